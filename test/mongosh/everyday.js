// Everyday MongoDB shell commands against the emulator. Each check prints
// "ok <name>" when it holds and throws (mongosh then exits non-zero) when
// it does not; mongosh_test.go expects every name.
function check(name, cond, got) {
  if (!cond) {
    throw new Error('check ' + name + ' failed: ' + EJSON.stringify(got));
  }
  print('ok ' + name);
}

const shop = db.getSiblingDB('shop');
shop.dropDatabase();

// CRUD
shop.items.insertMany([
  { _id: 1, name: 'apple', qty: 5 },
  { _id: 2, name: 'Banana', qty: 0 },
  { _id: 3, name: 'banana', qty: 7 },
]);
check('insert', shop.items.countDocuments() === 3, shop.items.countDocuments());
check('find', shop.items.find({ qty: { $gt: 1 } }).sort({ _id: 1 }).toArray().map((d) => d._id).join() === '1,3', null);
shop.items.updateOne({ _id: 1 }, { $inc: { qty: 1 } });
check('update', shop.items.findOne({ _id: 1 }).qty === 6, shop.items.findOne({ _id: 1 }));
shop.items.deleteOne({ _id: 2 });
check('delete', shop.items.countDocuments() === 2, shop.items.countDocuments());
shop.items.insertOne({ _id: 2, name: 'Banana', qty: 0 });

// Indexes
shop.items.createIndex({ name: 1 }, { name: 'name_1' });
check('indexes', shop.items.getIndexes().map((i) => i.name).join() === '_id_,name_1', shop.items.getIndexes());

// A transaction
const session = db.getMongo().startSession();
session.startTransaction();
session.getDatabase('shop').items.insertOne({ _id: 4, name: 'cherry', qty: 2 });
check('transaction isolation', shop.items.countDocuments({ _id: 4 }) === 0, null);
session.commitTransaction();
session.endSession();
check('transaction commit', shop.items.countDocuments({ _id: 4 }) === 1, null);

// db.coll.stats() and db.stats()
const stats = shop.items.stats();
check('coll stats', stats.count === 4 && stats.nindexes === 2 && stats.ns === 'shop.items', stats);
const dbStats = shop.stats();
check('db stats', dbStats.collections === 1 && Number(dbStats.objects) === 4, dbStats);

// rs.status()
const status = rs.status();
check('rs status', status.set === 'rs0' && status.members[0].stateStr === 'PRIMARY', status);

// explain()
const plan = shop.items.find({ name: 'apple' }).explain();
check('explain find', plan.queryPlanner.winningPlan.inputStage.indexName === 'name_1', plan);
const aggPlan = shop.items.explain('executionStats').aggregate([{ $match: { qty: { $gt: 1 } } }, { $group: { _id: null, n: { $sum: 1 } } }]);
check('explain aggregate', aggPlan.stages[0].$cursor.executionStats.nReturned === 3, aggPlan);

// A collation query
const bananas = shop.items.find({ name: 'BANANA' }).collation({ locale: 'en', strength: 2 }).toArray();
check('collation', bananas.length === 2, bananas);

// A view
shop.createView('instock', 'items', [{ $match: { qty: { $gt: 0 } } }]);
check('view read', shop.instock.countDocuments() === 3, shop.instock.find().toArray());
let viewErr = null;
try {
  shop.instock.insertOne({ name: 'kiwi' });
} catch (e) {
  viewErr = e;
}
check('view write refused', viewErr !== null && viewErr.code === 166, viewErr);
check('view listed', shop.getCollectionInfos({ name: 'instock' })[0].type === 'view', shop.getCollectionInfos());

// A validator that refuses a document
shop.createCollection('people', {
  validator: { $jsonSchema: { bsonType: 'object', required: ['name'], properties: { age: { bsonType: 'int', minimum: 0 } } } },
});
shop.people.insertOne({ name: 'ann', age: 30 });
let valErr = null;
try {
  shop.people.insertOne({ _id: 'bad', age: -1 });
} catch (e) {
  valErr = e;
}
check('validator refused', valErr !== null && valErr.code === 121, valErr);
check('validator errInfo', valErr.errInfo.failingDocumentId === 'bad' && valErr.errInfo.details.operatorName === '$jsonSchema', valErr.errInfo);

// db.currentOp() and db.serverStatus()
const ops = db.currentOp();
check('current op', ops.inprog.length >= 1 && ops.inprog.every((o) => typeof o.opid === 'number'), ops);
const ss = db.serverStatus();
check('server status', ss.process === 'mongod' && ss.repl.setName === 'rs0' && ss.connections.current >= 1, ss);

print('everyday done');
