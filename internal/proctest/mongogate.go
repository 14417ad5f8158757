package proctest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mongogate/mongogate/internal/testbackend"
)

var (
	listeningRE = regexp.MustCompile(`^mongogate listening on (\S+)$`)
	metricsRE   = regexp.MustCompile(`^mongogate metrics on (\S+)$`)
	emulatorRE  = regexp.MustCompile(`^(mongodb://\S+)$`)
)

// Missing skips the test on a developer's machine when a tool is not
// installed, but fails it in CI, whose .ci/run installs every tool.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this must not be missing: %s", msg)
	}
	t.Skip(msg + " (.ci/run installs it)")
}

// Emulator runs cmd/emulator on a free loopback port, with args added,
// and returns it with its connection string.
func Emulator(t testing.TB, bins Binaries, args ...string) (*Proc, string) {
	t.Helper()
	p := Start(t, bins.Emulator, append([]string{"--listen", "127.0.0.1:0"}, args...))
	return p, p.WaitLine(t, emulatorRE)[1]
}

// Server is a running mongogate process.
type Server struct {
	*Proc
	// Addr is the gRPC address; MetricsURL its /metrics.
	Addr, MetricsURL string
}

// StartServer runs mongogate on a free loopback port with uri as its
// default backend and metrics on, plus args (later flags win), and
// returns once its health check reports SERVING.
func StartServer(t testing.TB, bins Binaries, uri string, args ...string) *Server {
	t.Helper()
	all := append([]string{"--listen", "127.0.0.1:0", "--mongo-uri", uri, "--metrics-listen", "127.0.0.1:0"}, args...)
	s := &Server{Proc: Start(t, bins.Server, all)}
	s.MetricsURL = s.WaitLine(t, metricsRE)[1]
	s.Addr = s.WaitLine(t, listeningRE)[1]
	WaitServing(t, s.Addr, s.Exited())
	return s
}

// WaitServing polls addr's health service until it reports SERVING, for at
// most 20 s, or until exited closes.
func WaitServing(t testing.TB, addr string, exited <-chan struct{}) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		last = fmt.Sprintf("%v %v", resp.GetStatus(), err)
		select {
		case <-exited:
			t.Fatalf("%s exited while starting", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s not SERVING within 20s; last health answer: %s", addr, last)
}

// NginxConfig is the nginx configuration of README's "Running several
// instances": round-robin gRPC (HTTP/2, plaintext) over the instances, or,
// with HTTP, round-robin HTTP/1.1 proxy_pass for the HTTP protocols.
// Prefix is nginx's working directory (temporary files, pid).
type NginxConfig struct {
	Listen    string
	Instances []string
	Prefix    string
	HTTP      bool
}

var nginxTemplate = template.Must(template.New("nginx").Parse(`daemon off;
worker_processes 1;
pid {{.Prefix}}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path {{.Prefix}}/client_body;
  proxy_temp_path {{.Prefix}}/proxy;
  fastcgi_temp_path {{.Prefix}}/fastcgi;
  uwsgi_temp_path {{.Prefix}}/uwsgi;
  scgi_temp_path {{.Prefix}}/scgi;
  upstream mongogate {
{{- range .Instances}}
    server {{.}};
{{- end}}
  }
  server {
{{- if .HTTP}}
    listen {{.Listen}};
    client_max_body_size 32m;
    location / {
      proxy_pass http://mongogate;
      proxy_http_version 1.1;
      proxy_read_timeout 300s;
    }
{{- else}}
    listen {{.Listen}} http2;
    client_max_body_size 32m;
    location / {
      grpc_pass grpc://mongogate;
      grpc_read_timeout 300s;
      grpc_send_timeout 300s;
    }
{{- end}}
  }
}
`))

// Render is the configuration file's text.
func (c NginxConfig) Render() string {
	var b bytes.Buffer
	if err := nginxTemplate.Execute(&b, c); err != nil {
		panic(err)
	}
	return b.String()
}

// Nginx runs Debian's nginx as a gRPC load balancer in front of instances
// and returns the address it listens on, once it accepts connections.
func Nginx(t testing.TB, instances []string) string {
	t.Helper()
	return nginx(t, instances, false)
}

// NginxHTTP is Nginx as an HTTP/1.1 round-robin proxy_pass, for the HTTP
// protocols.
func NginxHTTP(t testing.TB, instances []string) string {
	t.Helper()
	return nginx(t, instances, true)
}

func nginx(t testing.TB, instances []string, http bool) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			Missing(t, "nginx not found (Debian's nginx)")
		}
		bin = "/usr/sbin/nginx"
	}
	prefix := t.TempDir()
	listen := FreeAddr(t)
	conf := filepath.Join(prefix, "nginx.conf")
	cfg := NginxConfig{Listen: listen, Instances: instances, Prefix: prefix, HTTP: http}
	if err := os.WriteFile(conf, []byte(cfg.Render()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := Start(t, bin, []string{"-p", prefix, "-c", conf, "-e", "stderr"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
			return listen
		}
		select {
		case <-p.Exited():
			t.Fatalf("nginx exited: %s", strings.TrimSpace(p.Stderr()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept connections on %s: %v", listen, err)
		}
	}
}

// FreeAddr is a loopback address with a port free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Cluster is several mongogate instances on one MongoDB deployment (the
// one MONGOGATE_TEST_URI names, else one cmd/emulator process) behind
// nginx.
type Cluster struct {
	// URI is the deployment's connection string.
	URI     string
	Servers []*Server
	// LB is the load balancer's address.
	LB string
}

// StartCluster starts n instances with args (each also gets
// --instance-id mg-test-<i>) and nginx in front of them.
func StartCluster(t testing.TB, bins Binaries, n int, args ...string) *Cluster {
	t.Helper()
	c := &Cluster{URI: os.Getenv(testbackend.EnvURI)}
	if c.URI == "" {
		_, c.URI = Emulator(t, bins)
	}
	var addrs []string
	for i := range n {
		s := StartServer(t, bins, c.URI, append([]string{"--instance-id", fmt.Sprintf("mg-test-%d", i)}, args...)...)
		c.Servers = append(c.Servers, s)
		addrs = append(addrs, s.Addr)
	}
	c.LB = Nginx(t, addrs)
	return c
}

// HostOf is the host:port of a single-host mongodb:// URI; "" when uri is
// not one.
func HostOf(uri string) string {
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		return rest[:i]
	}
	return rest
}
