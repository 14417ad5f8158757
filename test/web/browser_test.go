package web

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// chromium is Debian's package's binary.
const chromium = "/usr/bin/chromium"

// pageOutcome is what examples/browser's page reports.
type pageOutcome struct {
	OK        bool             `json:"ok"`
	Error     string           `json:"error"`
	Committed bool             `json:"committed"`
	ID        string           `json:"id"`
	Found     []map[string]any `json:"found"`
	// Of the TypeScript client's page.
	Types    bool   `json:"types"`
	Price    string `json:"price"`
	Streamed int    `json:"streamed"`
}

// TestBrowser loads examples/browser's page in headless Chromium from one
// origin; the page runs StartSession, StartTransaction, InsertOne,
// CommitTransaction and a streamed Find against mongogate on another
// origin, which CORS allows. Served from an origin mongogate does not
// allow, the same page fails before any call reaches it.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		proctest.Missing(t, "%s not found (Debian's chromium)", chromium)
	}
	site := buildPage(t)
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		_, uri = proctest.Emulator(t, bins)
	}
	allowed := servePage(t, site)
	s := proctest.StartServer(t, bins, uri, "--allow-origin", allowed.origin)
	db := testbackend.DBName(t)

	out := runPage(t, allowed, s.Addr, db)
	if !out.OK || !out.Committed || len(out.Found) != 1 || out.Found[0]["_id"] != out.ID {
		t.Fatalf("page outcome %+v: want a committed transaction and its document found", out)
	}
	n, err := testbackend.Client(t, uri).Database(db).Collection("browser").CountDocuments(context.Background(), bson.D{{Key: "_id", Value: out.ID}})
	if err != nil || n != 1 {
		t.Fatalf("the page's document: %d copies (%v), want 1", n, err)
	}

	started := func() float64 {
		v, _ := promtest.Scrape(t, s.MetricsURL).Value("mongogate_sessions_started_total")
		return v
	}
	before := started()
	other := servePage(t, site)
	refused := runPage(t, other, s.Addr, db)
	if refused.OK {
		t.Fatalf("a page from %s, which --allow-origin does not name, ran its transaction: %+v", other.origin, refused)
	}
	if after := started(); after != before {
		t.Fatalf("sessions started went from %v to %v: a call from a refused origin reached the services", before, after)
	}
	t.Logf("from %s: %s", other.origin, refused.Error)
}

// TestTypeScriptClientInBrowser runs @mongogate/client (clients/ts) in
// headless Chromium over the Connect protocol: withTransaction inserts a
// document with BSON types, which come back as the same types, and a
// find streams.
func TestTypeScriptClientInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		proctest.Missing(t, "%s not found (Debian's chromium)", chromium)
	}
	ts := filepath.Join(bins.Root, "clients", "ts")
	esbuild := filepath.Join(ts, "node_modules", ".bin", "esbuild")
	if _, err := os.Stat(esbuild); err != nil {
		proctest.Missing(t, "%s not found (scripts/install-ts.sh runs npm ci in clients/ts)", esbuild)
	}
	site := t.TempDir()
	cmd := exec.Command(esbuild, filepath.Join(bins.Root, "test", "web", "tsclient", "main.ts"), "--bundle", "--format=esm",
		"--platform=browser", "--target=es2022", "--log-level=warning", "--outfile="+filepath.Join(site, "dist", "main.js"))
	// The page imports bson as the client does: from the client's packages.
	cmd.Dir, cmd.Env = ts, append(os.Environ(), "NODE_PATH="+filepath.Join(ts, "node_modules"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	html := `<!doctype html><html><head><meta charset="utf-8"><title>@mongogate/client</title></head>` +
		`<body><script type="module" src="dist/main.js"></script></body></html>`
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		_, uri = proctest.Emulator(t, bins)
	}
	p := servePage(t, site)
	s := proctest.StartServer(t, bins, uri, "--allow-origin", p.origin)
	out := runPage(t, p, s.Addr, testbackend.DBName(t))
	if !out.OK || !out.Types || out.Price != "12.50" || out.Streamed != 1 {
		t.Fatalf("page outcome %+v: want the transaction's document back with its BSON types, and a streamed find of it", out)
	}
}

// buildPage bundles examples/browser with its esbuild into a directory
// holding index.html and dist/main.js.
func buildPage(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(bins.Root, "examples", "browser")
	esbuild := filepath.Join(dir, "node_modules", ".bin", "esbuild")
	if _, err := os.Stat(esbuild); err != nil {
		proctest.Missing(t, "%s not found (scripts/install-web.sh runs npm ci in examples/browser)", esbuild)
	}
	site := t.TempDir()
	cmd := exec.Command(esbuild, "src/main.ts", "--bundle", "--format=esm", "--target=es2022",
		"--loader:.binpb=binary", "--log-level=warning", "--outfile="+filepath.Join(site, "dist", "main.js"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	html, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "index.html"), html, 0o644); err != nil {
		t.Fatal(err)
	}
	return site
}

// page is the page's web server: one origin, and the outcomes posted to
// its /outcome.
type page struct {
	origin   string
	outcomes chan pageOutcome
}

func servePage(t *testing.T, site string) *page {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &page{origin: "http://" + ln.Addr().String(), outcomes: make(chan pageOutcome, 1)}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(site)))
	mux.HandleFunc("POST /outcome", func(w http.ResponseWriter, r *http.Request) {
		var o pageOutcome
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &o); err != nil {
			o = pageOutcome{Error: "unreadable outcome: " + string(body)}
		}
		select {
		case p.outcomes <- o:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// runPage opens the page in headless Chromium against mongogate at api
// and returns the outcome it reports, within a minute.
func runPage(t *testing.T, p *page, api, db string) pageOutcome {
	t.Helper()
	url := p.origin + "/index.html?api=http://" + api + "&db=" + db + "&report=/outcome"
	// The flags keep Chromium off the network beyond loopback and out of
	// the user's profile.
	chrome := proctest.Start(t, chromium, []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), url,
	})
	defer chrome.Kill()
	select {
	case o := <-p.outcomes:
		return o
	case <-chrome.Exited():
		t.Fatalf("chromium exited before the page reported: %s", chrome.Stderr())
	case <-time.After(time.Minute):
		t.Fatalf("the page reported nothing within a minute; chromium: %s", chrome.Stderr())
	}
	return pageOutcome{}
}
