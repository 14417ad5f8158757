package emulator

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/agg"
	"github.com/mongogate/mongogate/emulator/internal/collation"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Catalog commands: collections, databases and indexes.

// unsupportedCreate are the create options for behaviour the emulator
// lacks (capped, time series, clustered); asking for them fails loudly
// instead of being ignored.
var unsupportedCreate = []string{"capped", "timeseries", "clusteredIndex", "encryptedFields"}

func (x *exec) create() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	var opts bson.D
	for _, e := range x.cmd[1:] {
		switch e.Key {
		case "$db", "lsid", "txnNumber", "autocommit", "startTransaction", "$clusterTime", "writeConcern",
			"readConcern", "$readPreference", "comment", "maxTimeMS", "apiVersion", "apiStrict", "apiDeprecationErrors":
			continue
		}
		for _, u := range unsupportedCreate {
			if e.Key == u && value.Truthy(e.Value) {
				return nil, mongoerr.New(mongoerr.NotImplemented, "the emulator does not support create option '%s'", u)
			}
		}
		opts = append(opts, e)
	}
	if _, isView := value.Lookup(opts, "viewOn"); isView {
		return x.createView(name, opts)
	}
	coll, opts, err := createCollation(opts)
	if err != nil {
		return nil, err
	}
	val, opts, err := parseValidation(opts, nil)
	if err != nil {
		return nil, err
	}
	c, exists := x.s.store.createCollection(x.db, name, opts)
	if exists {
		if c.pending != nil && c.pending != x.txn {
			return nil, writeConflict()
		}
		return nil, mongoerr.New(mongoerr.NamespaceExists, "Collection %s.%s already exists.", x.db, name)
	}
	c.ext.collator = coll
	c.ext.validator = val
	if err := setIndexCollation(c, c.indexes[0], c.indexes[0].spec); err != nil {
		return nil, err
	}
	if x.txn != nil {
		c.pending = x.txn
		x.txn.created = append(x.txn.created, c)
	}
	x.logCreate(c)
	return okReply(), nil
}

// touch gives a catalog change a cluster time of its own.
func (x *exec) touch() {
	if x.view.writeTS == 0 {
		x.view.writeTS = x.s.store.tick()
	}
}

// drop removes a collection. Since MongoDB 7.0 dropping a collection that
// does not exist succeeds.
func (x *exec) drop() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	c := x.coll(name)
	if c == nil {
		return okReply(), nil
	}
	n := len(c.indexes)
	x.s.store.dropCollection(x.db, name)
	x.logDrop(c)
	return okReply(bson.E{Key: "nIndexesWas", Value: int32(n)}, bson.E{Key: "ns", Value: x.ns(name)}), nil
}

func (x *exec) dropDatabase() (bson.D, error) {
	if d := x.s.store.dbs[x.db]; d != nil {
		for _, name := range d.collectionNames() {
			x.logDrop(d.colls[name])
			x.s.store.dropCollection(x.db, name)
		}
		x.logDropDatabase(x.db)
	}
	return okReply(bson.E{Key: "dropped", Value: x.db}), nil
}

func (x *exec) listDatabases() (bson.D, error) {
	filter, err := x.docArg("filter")
	if err != nil {
		return nil, err
	}
	f, err := compileFilter(filter, nil)
	if err != nil {
		return nil, err
	}
	nameOnly := x.boolArg("nameOnly")
	dbs := bson.A{}
	for _, name := range x.s.store.databaseNames() {
		d := bson.D{{Key: "name", Value: name}}
		if !nameOnly {
			d = append(d, bson.E{Key: "sizeOnDisk", Value: int64(0)}, bson.E{Key: "empty", Value: false})
		}
		if m, err := f.Match(d); err != nil {
			return nil, err
		} else if m {
			dbs = append(dbs, d)
		}
	}
	if nameOnly {
		return okReply(bson.E{Key: "databases", Value: dbs}), nil
	}
	return okReply(bson.E{Key: "databases", Value: dbs}, bson.E{Key: "totalSize", Value: int64(0)}, bson.E{Key: "totalSizeMb", Value: int64(0)}), nil
}

func (x *exec) listCollections() (bson.D, error) {
	filter, err := x.docArg("filter")
	if err != nil {
		return nil, err
	}
	f, err := compileFilter(filter, nil)
	if err != nil {
		return nil, err
	}
	nameOnly := x.boolArg("nameOnly")
	var out []bson.D
	if d := x.s.store.dbs[x.db]; d != nil {
		for _, name := range d.collectionNames() {
			c := d.colls[name]
			if c.pending != nil {
				continue // created by a transaction that has not committed
			}
			entry := bson.D{{Key: "name", Value: name}, {Key: "type", Value: "collection"}}
			if c.ext.view != nil {
				entry[1].Value = "view"
			}
			switch {
			case nameOnly:
			case c.ext.view != nil:
				entry = append(entry,
					bson.E{Key: "options", Value: c.options},
					bson.E{Key: "info", Value: bson.D{{Key: "readOnly", Value: true}}})
			default:
				opts := c.options
				if opts == nil {
					opts = bson.D{}
				}
				entry = append(entry,
					bson.E{Key: "options", Value: opts},
					bson.E{Key: "info", Value: bson.D{{Key: "readOnly", Value: false}, {Key: "uuid", Value: c.uuid}}},
					bson.E{Key: "idIndex", Value: c.indexes[0].spec})
			}
			if m, err := f.Match(entry); err != nil {
				return nil, err
			} else if m {
				out = append(out, entry)
			}
		}
	}
	curOpt, _ := value.Lookup(x.cmd, "cursor")
	batchSize, _, _ := intField(value.AsDoc(curOpt), x.name, "batchSize")
	return x.cursorReply("$cmd.listCollections", out, batchSize, false), nil
}

func (x *exec) listIndexes() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	c := x.coll(name)
	if c == nil {
		return nil, mongoerr.New(mongoerr.NamespaceNotFound, "ns does not exist: %s", x.ns(name))
	}
	if err := x.notOnView(c); err != nil {
		return nil, err
	}
	out := make([]bson.D, len(c.indexes))
	for i, ix := range c.indexes {
		out[i] = ix.spec
	}
	curOpt, _ := value.Lookup(x.cmd, "cursor")
	batchSize, _, _ := intField(value.AsDoc(curOpt), x.name, "batchSize")
	return x.cursorReply(name, out, batchSize, false), nil
}

func (x *exec) createIndexes() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	specs, err := x.docsArg("indexes")
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, mongoerr.New(mongoerr.BadValue, "Must specify at least one index to create")
	}
	existing := x.coll(name)
	if x.txn != nil && existing != nil && existing.pending != x.txn {
		return nil, mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Cannot create new indexes on existing collection %s in a multi-document transaction.", x.ns(name))
	}
	existed := existing != nil
	c, err := x.writeCollection(name)
	if err != nil {
		return nil, err
	}
	before := len(c.indexes)
	for _, spec := range specs {
		ix, err := parseIndex(spec)
		if err != nil {
			return nil, err
		}
		if err := setIndexCollation(c, ix, spec); err != nil {
			return nil, err
		}
		if dup, err := c.findIndex(ix); err != nil {
			return nil, err
		} else if dup {
			continue
		}
		if ix.unique {
			// Building a unique index over existing duplicates fails.
			if err := x.checkExistingUnique(c, ix); err != nil {
				return nil, err
			}
		}
		c.indexes = append(c.indexes, ix)
	}
	x.logIndexes(c, "createIndexes", c.indexes[before:])
	r := okReply(
		bson.E{Key: "numIndexesBefore", Value: int32(before)},
		bson.E{Key: "numIndexesAfter", Value: int32(len(c.indexes))},
		bson.E{Key: "createdCollectionAutomatically", Value: !existed},
	)
	if before == len(c.indexes) {
		r = append(bson.D{{Key: "note", Value: "all indexes already exist"}}, r...)
	}
	return r, nil
}

func parseIndex(spec bson.D) (*index, error) {
	key, err := docField(spec, "createIndexes", "key")
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, mongoerr.New(mongoerr.CannotCreateIndex, "Index keys cannot be empty.")
	}
	nameV, _ := value.Lookup(spec, "name")
	name, _ := nameV.(string)
	if name == "" {
		return nil, mongoerr.New(mongoerr.FailedToParse, "Error in specification %v :: caused by :: The 'name' field is a required property of an index specification", spec)
	}
	for _, k := range key {
		if s, ok := k.Value.(string); ok && s != "hashed" {
			return nil, mongoerr.New(mongoerr.NotImplemented, "the emulator does not support %q indexes", s)
		}
	}
	ix := &index{name: name, key: key, unique: boolField(spec, "unique"), sparse: boolField(spec, "sparse")}
	if v, ok := value.Lookup(spec, expireAfterSecondsField); ok {
		n, err := parseExpireAfterSeconds(v, spec)
		if err != nil {
			return nil, err
		}
		if err := checkTTLKey(key, spec); err != nil {
			return nil, err
		}
		ix.isTTL, ix.expireAfter = true, n
	}
	ix.spec = bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: key}, {Key: "name", Value: name}}
	for _, e := range spec {
		switch e.Key {
		case "key", "name", "v", "ns":
		case expireAfterSecondsField:
			ix.spec = append(ix.spec, bson.E{Key: e.Key, Value: ix.expireAfter})
		default:
			ix.spec = append(ix.spec, e)
		}
	}
	return ix, nil
}

// findIndex reports whether an identical index exists, and fails like
// MongoDB when the name or key is taken by a different one.
func (c *collection) findIndex(ix *index) (bool, error) {
	for _, old := range c.indexes {
		// Indexes on one key pattern with different collations are
		// different indexes (MongoDB manual, "Collation": "Collation and
		// Index Use").
		sameKey := value.Equal(old.key, ix.key) && collation.Equal(old.collator, ix.collator)
		sameTTL := old.isTTL == ix.isTTL && old.expireAfter == ix.expireAfter
		switch {
		case old.name == ix.name && sameKey && old.unique == ix.unique && old.sparse == ix.sparse && sameTTL:
			return true, nil
		case old.name == ix.name && sameKey && old.unique == ix.unique && old.sparse == ix.sparse:
			// expireAfterSeconds does not identify an index: changing it
			// takes collMod (index_catalog_impl.cpp, kEquivalent).
			return false, mongoerr.New(mongoerr.IndexOptionsConflict,
				"An equivalent index already exists with the same name but different options. Requested index: %v, existing index: %v", ix.spec, old.spec)
		case old.name == ix.name:
			return false, mongoerr.New(mongoerr.IndexKeySpecsConflict,
				"An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: %v, existing index: %v", ix.spec, old.spec)
		case sameKey && old.unique == ix.unique && old.sparse == ix.sparse:
			return false, mongoerr.New(mongoerr.IndexOptionsConflict,
				"Index already exists with a different name: %s", old.name)
		}
	}
	return false, nil
}

func (x *exec) checkExistingUnique(c *collection, ix *index) error {
	seen := map[string]bool{}
	var dupErr error
	x.view.scan(c, func(_ *record, d bson.D) bool {
		key, indexed := ix.keyOf(d)
		if !indexed {
			return true
		}
		k := value.KeyWith(key, collator(ix.collator))
		if seen[k] {
			kv := make(bson.D, len(ix.key))
			for i, f := range ix.key {
				kv[i] = bson.E{Key: f.Key, Value: key[i]}
			}
			dupErr = dupKey(c, ix, kv)
			return false
		}
		seen[k] = true
		return true
	})
	return dupErr
}

func (x *exec) dropIndexes() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	c := x.coll(name)
	if c == nil {
		return nil, mongoerr.New(mongoerr.NamespaceNotFound, "ns not found %s", x.ns(name))
	}
	if err := x.notOnView(c); err != nil {
		return nil, err
	}
	was := len(c.indexes)
	target, _ := value.Lookup(x.cmd, "index")
	var names []string
	switch t := target.(type) {
	case string:
		if t == "*" {
			x.logIndexes(c, "dropIndexes", c.indexes[1:])
			c.indexes = c.indexes[:1]
			return okReply(bson.E{Key: "nIndexesWas", Value: int32(was)}, bson.E{Key: "msg", Value: "non-_id indexes dropped for collection"}), nil
		}
		names = []string{t}
	case bson.A:
		for _, n := range t {
			s, _ := n.(string)
			names = append(names, s)
		}
	case bson.D:
		for _, ix := range c.indexes {
			if value.Equal(ix.key, t) {
				names = append(names, ix.name)
			}
		}
		if len(names) == 0 {
			return nil, mongoerr.New(mongoerr.IndexNotFound, "can't find index with key: %v", t)
		}
	default:
		return nil, wrongType(x.name, "index", target, "string")
	}
	for _, n := range names {
		if n == "_id_" {
			return nil, mongoerr.New(mongoerr.InvalidOptions, "cannot drop _id index")
		}
		i := c.indexByName(n)
		if i < 0 {
			return nil, mongoerr.New(mongoerr.IndexNotFound, "index not found with name [%s]", n)
		}
		x.logIndexes(c, "dropIndexes", c.indexes[i:i+1])
		c.indexes = append(c.indexes[:i], c.indexes[i+1:]...)
	}
	return okReply(bson.E{Key: "nIndexesWas", Value: int32(was)}), nil
}

func (c *collection) indexByName(name string) int {
	for i, ix := range c.indexes {
		if ix.name == name {
			return i
		}
	}
	return -1
}

// collMod changes a TTL index's expireAfterSeconds, a collection's
// validation options or a view's definition.
func (x *exec) collMod() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	c := x.coll(name)
	if c == nil {
		return nil, mongoerr.New(mongoerr.NamespaceNotFound, "ns does not exist: %s", x.ns(name))
	}
	var indexSpec, other bson.D
	for _, e := range x.cmd[1:] {
		switch e.Key {
		case "$db", "lsid", "$clusterTime", "writeConcern", "$readPreference", "comment", "maxTimeMS", "txnNumber":
		case "validator", "validationLevel", "validationAction", "viewOn", "pipeline":
			other = append(other, e)
		case "index":
			d, ok := e.Value.(bson.D)
			if !ok {
				return nil, wrongType(x.name, "index", e.Value, "object")
			}
			indexSpec = d
		case "changeStreamPreAndPostImages":
			if err := x.setPreAndPostImages(c, e.Value); err != nil {
				return nil, err
			}
		default:
			return nil, mongoerr.New(mongoerr.NotImplemented, "the emulator does not support collMod option '%s'", e.Key)
		}
	}
	if err := x.collModOptions(c, other); err != nil {
		return nil, err
	}
	x.logModify(c)
	if indexSpec == nil {
		x.touch()
		return okReply(), nil
	}
	out, err := x.collModIndex(c, indexSpec)
	if err != nil {
		return nil, err
	}
	x.touch()
	return okReply(out...), nil
}

func (x *exec) renameCollection() (bson.D, error) {
	if x.db != "admin" {
		return nil, mongoerr.New(mongoerr.Unauthorized, "renameCollection may only be run against the admin database.")
	}
	fromV := x.cmd[0].Value
	from, _ := fromV.(string)
	toV, _ := value.Lookup(x.cmd, "to")
	to, _ := toV.(string)
	fdb, fcoll, ok1 := splitNS(from)
	tdb, tcoll, ok2 := splitNS(to)
	if !ok1 || !ok2 {
		return nil, mongoerr.New(mongoerr.InvalidNamespace, "Invalid namespace specified")
	}
	st := x.s.store
	c := st.collection(fdb, fcoll)
	if c == nil {
		return nil, mongoerr.New(mongoerr.NamespaceNotFound, "Source collection %s does not exist", from)
	}
	target := st.collection(tdb, tcoll)
	if target != nil {
		if !x.boolArg("dropTarget") {
			return nil, mongoerr.New(mongoerr.NamespaceExists, "Target namespace exists")
		}
		st.dropCollection(tdb, tcoll)
	}
	x.logRename(c, tdb, tcoll, target)
	delete(st.dbs[fdb].colls, fcoll)
	if len(st.dbs[fdb].colls) == 0 {
		delete(st.dbs, fdb)
	}
	nc, _ := st.createCollection(tdb, tcoll, c.options)
	*nc = *c
	nc.db, nc.name = tdb, tcoll
	return okReply(), nil
}

func splitNS(ns string) (db, coll string, ok bool) {
	for i := range len(ns) {
		if ns[i] == '.' {
			return ns[:i], ns[i+1:], i > 0 && i < len(ns)-1
		}
	}
	return "", "", false
}

// writeOutput performs a trailing $out or $merge.
func (x *exec) writeOutput(o *agg.Output, docs []bson.D) error {
	db := o.DB
	if db == "" {
		db = x.db
	}
	saved := x.db
	x.db = db
	defer func() { x.db = saved }()
	switch o.Stage {
	case "$out":
		x.s.store.dropCollection(db, o.Coll)
		c, err := x.writeCollection(o.Coll)
		if err != nil {
			return err
		}
		for _, d := range docs {
			if err := x.insertDoc(c, withID(d)); err != nil {
				return err
			}
		}
		return nil
	case "$merge":
		return x.merge(o, docs)
	}
	return mongoerr.New(mongoerr.NotImplemented, "the emulator does not support %s", o.Stage)
}

// merge implements $merge with the whenMatched modes replace, merge,
// keepExisting and fail, and whenNotMatched insert, discard and fail.
func (x *exec) merge(o *agg.Output, docs []bson.D) error {
	on := []string{"_id"}
	whenMatched, whenNotMatched := "merge", "insert"
	for _, e := range o.Spec {
		switch e.Key {
		case "on":
			switch v := e.Value.(type) {
			case string:
				on = []string{v}
			case bson.A:
				on = on[:0]
				for _, f := range v {
					s, _ := f.(string)
					on = append(on, s)
				}
			}
		case "whenMatched":
			s, isStr := e.Value.(string)
			if !isStr {
				return mongoerr.New(mongoerr.NotImplemented, "the emulator does not support $merge with a whenMatched pipeline")
			}
			whenMatched = s
		case "whenNotMatched":
			whenNotMatched, _ = e.Value.(string)
		}
	}
	c, err := x.writeCollection(o.Coll)
	if err != nil {
		return err
	}
	for _, d := range docs {
		d = withID(d)
		var target *hit
		x.view.scan(c, func(r *record, existing bson.D) bool {
			for _, f := range on {
				a, _ := value.Get(existing, f)
				b, _ := value.Get(d, f)
				if !value.Equal(a, b) {
					return true
				}
			}
			target = &hit{r: r, doc: existing}
			return false
		})
		if target == nil {
			switch whenNotMatched {
			case "insert":
				if err := x.insertDoc(c, d); err != nil {
					return err
				}
			case "fail":
				return mongoerr.New(13113, "$merge could not find a matching document in the target collection for at least one document in the source collection")
			}
			continue
		}
		switch whenMatched {
		case "replace":
			id, _ := value.Lookup(target.doc, "_id")
			repl := append(bson.D{{Key: "_id", Value: id}}, withoutField(d, "_id")...)
			if err := x.replaceDoc(c, target.r, repl); err != nil {
				return err
			}
		case "merge":
			merged := value.CloneDoc(target.doc)
			for _, e := range d {
				if e.Key == "_id" {
					continue
				}
				set := false
				for i := range merged {
					if merged[i].Key == e.Key {
						merged[i].Value = e.Value
						set = true
					}
				}
				if !set {
					merged = append(merged, e)
				}
			}
			if err := x.replaceDoc(c, target.r, merged); err != nil {
				return err
			}
		case "keepExisting":
		case "fail":
			id, _ := value.Lookup(d, "_id")
			return dupKey(c, c.indexes[0], bson.D{{Key: "_id", Value: id}})
		default:
			return mongoerr.New(mongoerr.BadValue, "unknown whenMatched mode %q", whenMatched)
		}
	}
	return nil
}

func withoutField(d bson.D, key string) bson.D {
	out := make(bson.D, 0, len(d))
	for _, e := range d {
		if e.Key != key {
			out = append(out, e)
		}
	}
	return out
}
