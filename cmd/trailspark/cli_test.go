package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// ---- a fake TrailSpark server -----------------------------------------------------------------

const ts = `"2025-03-01T12:00:00Z"`

var (
	fUser = `{"id":"usr_1","email":"ann@acme.io","name":"Ann","created_at":` + ts + `}`
	fOrg  = `{"id":"org_1","name":"Acme","subdomain":"acme","size":"11-50","industry":"Technology","plan":"free","settings":{},"created_at":` + ts + `,"updated_at":` + ts + `,"role":"owner"}`
	fMem  = `{"user_id":"usr_2","email":"bob@acme.io","name":"Bob","role":"editor","joined_at":` + ts + `}`
	fInv  = `{"id":"inv_1","email":"cy@acme.io","role":"viewer","status":"pending","invited_by":"usr_1","created_at":` + ts + `,"expires_at":` + ts + `}`
	fKey  = `{"id":"key_1","name":"web","type":"signal_staging","prefix":"sk_AbC12dEf34","has_secret":true,"payload_template":{},"status":"active","created_at":` + ts + `,"expires_at":null,"last_used_at":null,"revoked_at":null,"rotated_from":null}`
	fPAT  = `{"id":"pat_1","name":"ci","prefix":"tsp_AbC12dEf","created_at":` + ts + `,"expires_at":null,"last_used_at":null}`
)

type req struct {
	Method, Path, Query, Body, Auth string
}

type fakeServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []req
}

func (f *fakeServer) requests() []req {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]req(nil), f.reqs...)
}

func (f *fakeServer) last(t *testing.T) req {
	t.Helper()
	r := f.requests()
	if len(r) == 0 {
		t.Fatal("no request reached the fake server")
	}
	return r[len(r)-1]
}

func apiError(w http.ResponseWriter, status int, code, msg, field string) {
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg, "field": field}})
	w.Write(b)
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	mux := http.NewServeMux()
	reply := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	mux.HandleFunc("POST /api/v1/auth/register", reply(201, fUser))
	mux.HandleFunc("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Email, Password string }
		json.NewDecoder(r.Body).Decode(&body)
		if body.Password != "right password" {
			apiError(w, 401, "invalid_credentials", "wrong email or password", "")
			return
		}
		io.WriteString(w, `{"token":"tss_session","expires_at":"2025-03-02T12:00:00Z","user":`+fUser+`}`)
	})
	mux.HandleFunc("POST /api/v1/auth/logout", reply(204, ""))
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			apiError(w, 401, "missing_credential", "sign in first", "")
			return
		}
		io.WriteString(w, `{"user":`+fUser+`,"operator":false,"memberships":[{"org_id":"org_1","org_name":"Acme","subdomain":"acme","role":"owner"}]}`)
	})
	mux.HandleFunc("POST /api/v1/me/tokens", reply(201, `{"personal_access_token":`+fPAT+`,"token":"tsp_fulltoken"}`))
	mux.HandleFunc("GET /api/v1/me/tokens", reply(200, `{"items":[`+fPAT+`],"next_cursor":""}`))
	mux.HandleFunc("DELETE /api/v1/me/tokens/{id}", reply(204, ""))
	mux.HandleFunc("GET /api/v1/orgs/subdomain-check", reply(200, `{"subdomain":"acme","available":false,"reason":"subdomain_taken","suggestion":"acme-2"}`))
	mux.HandleFunc("POST /api/v1/orgs", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		if body["size"] == "huge" {
			apiError(w, 400, "invalid_enum", "size must be one of 1-10, 11-50, 51-200, 201-500, 501+", "size")
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, fOrg)
	})
	mux.HandleFunc("GET /api/v1/orgs", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			io.WriteString(w, `{"items":[`+fOrg+`],"next_cursor":"p2"}`)
			return
		}
		io.WriteString(w, `{"items":[`+strings.NewReplacer("org_1", "org_2", `"Acme"`, `"Globex"`).Replace(fOrg)+`],"next_cursor":""}`)
	})
	mux.HandleFunc("GET /api/v1/orgs/{org}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("org") != "org_1" {
			apiError(w, 404, "organization_not_found", "organization not found", "")
			return
		}
		io.WriteString(w, fOrg)
	})
	mux.HandleFunc("PATCH /api/v1/orgs/{org}", reply(200, fOrg))
	mux.HandleFunc("DELETE /api/v1/orgs/{org}", reply(204, ""))
	mux.HandleFunc("GET /api/v1/orgs/{org}/members", reply(200, `{"items":[`+fMem+`],"next_cursor":""}`))
	mux.HandleFunc("PATCH /api/v1/orgs/{org}/members/{user}", reply(200, fMem))
	mux.HandleFunc("DELETE /api/v1/orgs/{org}/members/{user}", reply(204, ""))
	mux.HandleFunc("POST /api/v1/orgs/{org}/transfer-ownership", reply(200, `{"owner":`+fMem+`,"removed_user_id":"usr_1"}`))
	mux.HandleFunc("POST /api/v1/orgs/{org}/invitations", reply(201, `{"invitation":`+fInv+`,"token":"tsi_invtoken"}`))
	mux.HandleFunc("GET /api/v1/orgs/{org}/invitations", reply(200, `{"items":[`+fInv+`],"next_cursor":""}`))
	mux.HandleFunc("POST /api/v1/orgs/{org}/invitations/{id}/resend", reply(200, `{"invitation":`+fInv+`,"token":"tsi_newtoken"}`))
	mux.HandleFunc("POST /api/v1/orgs/{org}/invitations/{id}/cancel", reply(200, strings.Replace(fInv, "pending", "cancelled", 1)))
	mux.HandleFunc("POST /api/v1/orgs/{org}/invitations/accept", reply(200, `{"organization":`+fOrg+`,"role":"viewer"}`))
	mux.HandleFunc("POST /api/v1/orgs/{org}/api-keys", reply(201, `{"api_key":`+fKey+`,"key":"sk_fullkey","secret":"the-secret"}`))
	mux.HandleFunc("GET /api/v1/orgs/{org}/api-keys", reply(200, `{"items":[`+fKey+`],"next_cursor":""}`))
	mux.HandleFunc("GET /api/v1/orgs/{org}/api-keys/{id}", reply(200, fKey))
	mux.HandleFunc("POST /api/v1/orgs/{org}/api-keys/{id}/revoke", reply(200, strings.Replace(fKey, `"active"`, `"revoked"`, 1)))
	mux.HandleFunc("POST /api/v1/orgs/{org}/api-keys/{id}/rotate", reply(201, `{"api_key":`+strings.Replace(fKey, `"rotated_from":null`, `"rotated_from":"key_1"`, 1)+`,"key":"sk_rotated","secret":"new-secret"}`))

	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		f.mu.Lock()
		f.reqs = append(f.reqs, req{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Get("Authorization")})
		n := len(f.reqs)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", fmt.Sprintf("req_%d", n))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// ---- running the CLI --------------------------------------------------------------------------

// isolate points the CLI at an empty config directory and clears the environment.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("HOME", dir)
	t.Setenv(envToken, "")
	t.Setenv(envServer, "")
	return dir
}

type result struct {
	stdout, stderr string
	err            error
}

// execCLI runs the admin commands in a fresh command tree (flags do not leak between runs).
func execCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	root := &cobra.Command{Use: "trailspark", SilenceUsage: true, SilenceErrors: true}
	addClientCommands(root)
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return result{out.String(), errb.String(), err}
}

// printed is what main prints for an error.
func printed(err error) string { return fmt.Sprintln("error:", err) }

func writeConfig(t *testing.T, cfg cliConfig) string {
	t.Helper()
	path, err := configPath()
	if err != nil {
		t.Fatal(err)
	}
	if err := saveConfig(path, &cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// ---- tests ------------------------------------------------------------------------------------

func TestCommandTree(t *testing.T) {
	root := &cobra.Command{Use: "trailspark"}
	addClientCommands(root)
	for _, path := range []string{
		"register", "login", "logout", "whoami",
		"token create", "token list", "token revoke",
		"org create", "org list", "org get", "org update", "org delete", "org check-subdomain",
		"member list", "member role", "member remove", "member transfer",
		"invite create", "invite list", "invite resend", "invite cancel", "invite accept",
		"key create", "key list", "key get", "key revoke", "key rotate",
		"models list", "models get", "models create", "models activate", "models quality", "models parse-text", "models analyze",
		"evaluations list", "evaluations get", "evaluations evaluate", "feedback give", "feedback list",
		"refine preview", "refine apply", "settings get", "settings set",
		"plugins list", "plugins start", "plugins stop", "plugins approve",
		"usage", "billing show", "billing change", "billing cancel-change", "billing overages",
		"destinations list", "destinations create", "destinations deliveries", "destinations redrive", "destinations suggest-fields",
	} {
		cmd, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) != 0 || cmd.Name() != strings.Fields(path)[len(strings.Fields(path))-1] {
			t.Errorf("command %q not found (%v)", path, err)
		}
	}
	for _, name := range []string{"server", "token", "output"} {
		if root.PersistentFlags().Lookup(name) == nil {
			t.Errorf("persistent flag --%s missing", name)
		}
	}
}

func TestOrgCreatePrintsTheOrg(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	cases := []struct {
		name     string
		args     []string
		wantBody map[string]any
	}{
		{"minimal", []string{"--name", "Acme", "--size", "11-50", "--industry", "Technology"},
			map[string]any{"name": "Acme", "size": "11-50", "industry": "Technology"}},
		{"all flags", []string{"--name", "Acme", "--subdomain", "acme", "--size", "11-50", "--industry", "Technology", "--owner-email", "ann@acme.io", "--plan", "pro"},
			map[string]any{"name": "Acme", "subdomain": "acme", "size": "11-50", "industry": "Technology", "owner_email": "ann@acme.io", "plan": "pro"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--server", f.URL, "--token", "tsp_x", "org", "create"}, tc.args...)
			r := execCLI(t, "", args...)
			if r.err != nil {
				t.Fatalf("err: %v", r.err)
			}
			for _, want := range []string{"ID", "org_1", "NAME", "Acme", "SUBDOMAIN", "acme", "SIZE", "11-50", "Technology", "YOUR ROLE", "owner"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
			last := f.last(t)
			if last.Method != "POST" || last.Path != "/api/v1/orgs" || last.Auth != "Bearer tsp_x" {
				t.Errorf("request %+v", last)
			}
			var body map[string]any
			json.Unmarshal([]byte(last.Body), &body)
			if fmt.Sprint(body) != fmt.Sprint(tc.wantBody) {
				t.Errorf("body %v, want %v", body, tc.wantBody)
			}
		})
	}
	// Required flags are checked before any request.
	n := len(f.requests())
	r := execCLI(t, "", "--server", f.URL, "--token", "t", "org", "create", "--name", "Acme")
	if r.err == nil || !strings.Contains(r.err.Error(), "required flag") || len(f.requests()) != n {
		t.Errorf("missing --size/--industry: err=%v", r.err)
	}
}

func TestJSONOutputIsValid(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	tmpl := filepath.Join(t.TempDir(), "tmpl.json")
	os.WriteFile(tmpl, []byte(`{"source":"web","n":1.5}`), 0o600)
	cases := [][]string{
		{"whoami"},
		{"token", "create", "--name", "ci", "--expires-in", "30d"},
		{"token", "list"},
		{"token", "revoke", "pat_1"},
		{"org", "create", "--name", "Acme", "--size", "11-50", "--industry", "Technology"},
		{"org", "list"},
		{"org", "get", "org_1"},
		{"org", "update", "org_1", "--name", "Acme Inc"},
		{"org", "delete", "org_1", "--yes"},
		{"org", "check-subdomain", "--name", "Acme"},
		{"member", "list", "org_1"},
		{"member", "role", "org_1", "usr_2", "editor"},
		{"member", "remove", "org_1", "usr_2"},
		{"member", "transfer", "org_1", "usr_2"},
		{"invite", "create", "org_1", "--email", "cy@acme.io"},
		{"invite", "list", "org_1"},
		{"invite", "resend", "org_1", "inv_1"},
		{"invite", "cancel", "org_1", "inv_1"},
		{"invite", "accept", "org_1", "tsi_invtoken"},
		{"key", "create", "org_1", "--name", "web", "--with-secret", "--template", tmpl},
		{"key", "list", "org_1"},
		{"key", "get", "org_1", "key_1"},
		{"key", "revoke", "org_1", "key_1"},
		{"key", "rotate", "org_1", "key_1"},
		{"logout"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			for _, output := range []string{"json", "table"} {
				r := execCLI(t, "", append([]string{"--server", f.URL, "--token", "tsp_x", "--output", output}, args...)...)
				if r.err != nil {
					t.Fatalf("%s: %v", output, r.err)
				}
				if output == "json" && !json.Valid([]byte(r.stdout)) {
					t.Errorf("not valid JSON:\n%s", r.stdout)
				}
				if strings.TrimSpace(r.stdout) == "" {
					t.Errorf("%s: nothing printed", output)
				}
			}
		})
	}
}

func TestListsFollowPagesAndPrintArrays(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	r := execCLI(t, "", "--server", f.URL, "--token", "t", "--output", "json", "org", "list")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var orgs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &orgs); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if len(orgs) != 2 || orgs[0]["id"] != "org_1" || orgs[1]["id"] != "org_2" {
		t.Errorf("orgs = %v", orgs)
	}
	r = execCLI(t, "", "--server", f.URL, "--token", "t", "org", "list")
	if !strings.Contains(r.stdout, "Acme") || !strings.Contains(r.stdout, "Globex") || !strings.HasPrefix(r.stdout, "ID ") {
		t.Errorf("table:\n%s", r.stdout)
	}
}

func TestAPIErrorFormatting(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"field error", []string{"org", "create", "--name", "Acme", "--size", "huge", "--industry", "Technology"},
			"error: size must be one of 1-10, 11-50, 51-200, 201-500, 501+ (code invalid_enum, field size, request req_%d)\n"},
		{"no field", []string{"org", "get", "org_404"},
			"error: organization not found (code organization_not_found, request req_%d)\n"},
		{"login failure", []string{"login", "--email", "ann@acme.io", "--password-stdin"},
			"error: wrong email or password (code invalid_credentials, request req_%d)\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := execCLI(t, "wrong\n", append([]string{"--server", f.URL, "--token", "t"}, tc.args...)...)
			if r.err == nil {
				t.Fatal("expected an error")
			}
			want := fmt.Sprintf(tc.want, len(f.requests()))
			if got := printed(r.err); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if r.stdout != "" {
				t.Errorf("nothing should be printed on stdout: %q", r.stdout)
			}
		})
	}
}

func TestLocalErrors(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"not signed in", []string{"--server", f.URL, "whoami"}, "not signed in"},
		{"bad output", []string{"--server", f.URL, "--token", "t", "--output", "yaml", "whoami"}, "--output must be table or json"},
		{"bad server", []string{"--server", "localhost:8080", "--token", "t", "whoami"}, "must be an http:// or https:// URL"},
		{"delete needs --yes", []string{"--server", f.URL, "--token", "t", "org", "delete", "org_1"}, "pass --yes"},
		{"update needs a change", []string{"--server", f.URL, "--token", "t", "org", "update", "org_1"}, "nothing to update"},
		{"check needs a flag", []string{"--server", f.URL, "--token", "t", "org", "check-subdomain"}, "at least one of the flags"},
		{"password is never a flag", []string{"--server", f.URL, "login", "--email", "a@b.co", "--password", "x"}, "unknown flag: --password"},
		{"expiry flags exclusive", []string{"--server", f.URL, "--token", "t", "key", "create", "o", "--name", "k", "--expires-in", "1h", "--expires-at", "2030-01-01T00:00:00Z"}, "none of the others can be"},
		{"bad duration", []string{"--server", f.URL, "--token", "t", "token", "create", "--name", "k", "--expires-in", "soon"}, "want a duration"},
		{"bad template", []string{"--server", f.URL, "--token", "t", "key", "create", "o", "--name", "k", "--template", "/does/not/exist.json"}, "reading the template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := len(f.requests())
			r := execCLI(t, "", tc.args...)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", r.err, tc.want)
			}
			if len(f.requests()) != n {
				t.Errorf("a request was sent: %+v", f.last(t))
			}
		})
	}
}

func TestTokenPrecedence(t *testing.T) {
	cases := []struct {
		name           string
		flag, env, cfg string
		cfgServer      string // "" = the fake server
		want           string
	}{
		{"flag beats env and file", "tsp_flag", "tsp_env", "tss_file", "", "Bearer tsp_flag"},
		{"env beats file", "", "tsp_env", "tss_file", "", "Bearer tsp_env"},
		{"file when nothing else", "", "", "tss_file", "", "Bearer tss_file"},
		{"file token only for its own server", "", "", "tss_file", "http://other.example:8080", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			f := newFakeServer(t)
			server := tc.cfgServer
			if server == "" {
				server = f.URL
			}
			writeConfig(t, cliConfig{Server: server, Token: tc.cfg})
			t.Setenv(envToken, tc.env)
			args := []string{"--server", f.URL, "whoami"}
			if tc.flag != "" {
				args = append([]string{"--token", tc.flag}, args...)
			}
			r := execCLI(t, "", args...)
			if tc.want == "" {
				if r.err == nil || !strings.Contains(r.err.Error(), "not signed in") {
					t.Fatalf("err = %v, want not signed in", r.err)
				}
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got := f.last(t).Auth; got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServerPrecedence(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	// The saved server is used when neither flag nor env names one.
	writeConfig(t, cliConfig{Server: f.URL, Token: "tss_file"})
	if r := execCLI(t, "", "whoami"); r.err != nil || f.last(t).Auth != "Bearer tss_file" {
		t.Fatalf("config server: %v", r.err)
	}
	// The environment beats the saved server.
	g := newFakeServer(t)
	t.Setenv(envServer, g.URL)
	if r := execCLI(t, "", "--token", "t", "whoami"); r.err != nil || len(g.requests()) != 1 {
		t.Fatalf("env server: %v", r.err)
	}
	// The flag beats the environment.
	n := len(g.requests())
	if r := execCLI(t, "", "--server", f.URL, "--token", "t", "whoami"); r.err != nil || len(g.requests()) != n {
		t.Fatalf("flag server: %v", r.err)
	}
}

func TestLoginWritesConfig0600(t *testing.T) {
	dir := isolate(t)
	f := newFakeServer(t)
	r := execCLI(t, "right password\n", "--server", f.URL, "login", "--email", "ann@acme.io", "--password-stdin")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if strings.Contains(r.stdout+r.stderr, "tss_session") {
		t.Error("the session token must not be printed")
	}
	if got := f.last(t); got.Auth != "" || got.Body != `{"email":"ann@acme.io","password":"right password"}` {
		t.Errorf("login request %+v", got)
	}
	path := filepath.Join(dir, "config", "trailspark", "cli.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("config mode %o, want 600", perm)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode %o, want 700", di.Mode().Perm())
	}
	var cfg cliConfig
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Server != f.URL || cfg.Token != "tss_session" || cfg.Email != "ann@acme.io" || cfg.ExpiresAt == nil {
		t.Errorf("config %+v", cfg)
	}

	// Later commands use the saved server and token.
	if r := execCLI(t, "", "whoami"); r.err != nil || f.last(t).Auth != "Bearer tss_session" || !strings.Contains(r.stdout, "ann@acme.io") {
		t.Fatalf("whoami after login: %v\n%s", r.err, r.stdout)
	}

	// Logout revokes the session and forgets it, keeping the file private.
	if r := execCLI(t, "", "logout"); r.err != nil {
		t.Fatal(r.err)
	}
	if got := f.last(t); got.Path != "/api/v1/auth/logout" || got.Auth != "Bearer tss_session" {
		t.Errorf("logout request %+v", got)
	}
	b, _ = os.ReadFile(path)
	if strings.Contains(string(b), "tss_session") {
		t.Errorf("token still saved: %s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode after logout %o", fi.Mode().Perm())
	}
	if r := execCLI(t, "", "whoami"); r.err == nil || !strings.Contains(r.err.Error(), "not signed in") {
		t.Errorf("whoami after logout: %v", r.err)
	}
}

func TestConfigPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	if p, _ := configPath(); p != filepath.Join(dir, "trailspark", "cli.json") {
		t.Errorf("with XDG_CONFIG_HOME: %s", p)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", dir)
	if p, _ := configPath(); p != filepath.Join(dir, ".config", "trailspark", "cli.json") {
		t.Errorf("without XDG_CONFIG_HOME: %s", p)
	}
}

func TestRegisterReadsPasswordFromStdin(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	for _, flag := range []string{"--password-stdin", ""} {
		args := []string{"--server", f.URL, "register", "--email", "ann@acme.io", "--name", "Ann"}
		if flag != "" {
			args = append(args, flag)
		}
		r := execCLI(t, "s3cret pass\r\n", args...)
		if r.err != nil {
			t.Fatalf("%s: %v", flag, r.err)
		}
		if got := f.last(t); got.Body != `{"email":"ann@acme.io","password":"s3cret pass","name":"Ann"}` {
			t.Errorf("%s: body %s", flag, got.Body)
		}
		if !strings.Contains(r.stdout, "usr_1") {
			t.Errorf("%s: output %s", flag, r.stdout)
		}
	}
	if r := execCLI(t, "", "--server", f.URL, "register", "--email", "a@b.co", "--name", "A", "--password-stdin"); r.err == nil {
		t.Error("an empty stdin should fail")
	}
}

func TestSecretsShownOnceWithNotice(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	tmpl := filepath.Join(t.TempDir(), "tmpl.json")
	os.WriteFile(tmpl, []byte(`{"source":"web","weights":[1,2]}`), 0o600)
	cases := []struct {
		name    string
		args    []string
		secrets []string
		body    string
	}{
		{"key create", []string{"key", "create", "org_1", "--name", "web", "--type", "product_org", "--expires-at", "2030-01-31T00:00:00+01:00", "--with-secret", "--template", tmpl},
			[]string{"sk_fullkey", "the-secret"},
			`{"name":"web","type":"product_org","expires_at":"2030-01-30T23:00:00Z","with_secret":true,"payload_template":{"source":"web","weights":[1,2]}}`},
		{"key rotate", []string{"key", "rotate", "org_1", "key_1"}, []string{"sk_rotated", "new-secret"}, ""},
		{"token create", []string{"token", "create", "--name", "ci"}, []string{"tsp_fulltoken"}, `{"name":"ci"}`},
		{"invite create", []string{"invite", "create", "org_1", "--email", "cy@acme.io", "--role", "admin"}, []string{"tsi_invtoken"},
			`{"email":"cy@acme.io","role":"admin"}`},
		{"invite create default role", []string{"invite", "create", "org_1", "--email", "cy@acme.io"}, []string{"tsi_invtoken"},
			`{"email":"cy@acme.io"}`},
		{"invite resend", []string{"invite", "resend", "org_1", "inv_1"}, []string{"tsi_newtoken"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := execCLI(t, "", append([]string{"--server", f.URL, "--token", "t"}, tc.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			for _, s := range tc.secrets {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
				if strings.Contains(r.stderr, s) {
					t.Errorf("the secret %q leaked to stderr", s)
				}
			}
			if !strings.Contains(r.stderr, showOnceLine) {
				t.Errorf("stderr lacks the notice:\n%s", r.stderr)
			}
			if got := f.last(t).Body; got != tc.body {
				t.Errorf("body\n got %s\nwant %s", got, tc.body)
			}
		})
	}
}

func TestExpiresIn(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	before := time.Now().UTC()
	r := execCLI(t, "", "--server", f.URL, "--token", "t", "key", "create", "org_1", "--name", "k", "--expires-in", "90d")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var body struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	json.Unmarshal([]byte(f.last(t).Body), &body)
	want := before.Add(90 * 24 * time.Hour)
	if d := body.ExpiresAt.Sub(want); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("expires_at %v, want about %v", body.ExpiresAt, want)
	}
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{{"720h", 720 * time.Hour, true}, {"30d", 720 * time.Hour, true}, {"90m", 90 * time.Minute, true}, {"0s", 0, false}, {"-1h", 0, false}, {"xd", 0, false}} {
		d, err := parseExpiresIn(tc.in)
		if (err == nil) != tc.ok || d != tc.want {
			t.Errorf("parseExpiresIn(%q) = %v, %v", tc.in, d, err)
		}
	}
}

func TestMemberAndInviteRequests(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	cases := []struct {
		args              []string
		method, path      string
		body              string
		stdin, wantStdout string
	}{
		{args: []string{"member", "role", "org_1", "usr_2", "editor"}, method: "PATCH", path: "/api/v1/orgs/org_1/members/usr_2", body: `{"role":"editor"}`, wantStdout: "editor"},
		{args: []string{"member", "remove", "org_1", "usr_2"}, method: "DELETE", path: "/api/v1/orgs/org_1/members/usr_2", wantStdout: "Removed usr_2"},
		{args: []string{"member", "transfer", "org_1", "usr_2"}, method: "POST", path: "/api/v1/orgs/org_1/transfer-ownership", body: `{"user_id":"usr_2"}`, wantStdout: "is now the Owner"},
		{args: []string{"invite", "cancel", "org_1", "inv_1"}, method: "POST", path: "/api/v1/orgs/org_1/invitations/inv_1/cancel", wantStdout: "cancelled"},
		{args: []string{"invite", "accept", "org_1", "tsi_abc"}, method: "POST", path: "/api/v1/orgs/org_1/invitations/accept", body: `{"token":"tsi_abc"}`, wantStdout: "Joined Acme"},
		{args: []string{"invite", "accept", "org_1", "-"}, stdin: "tsi_piped\n", method: "POST", path: "/api/v1/orgs/org_1/invitations/accept", body: `{"token":"tsi_piped"}`},
		{args: []string{"org", "update", "org_1", "--size", "51-200", "--industry", "Finance"}, method: "PATCH", path: "/api/v1/orgs/org_1", body: `{"size":"51-200","industry":"Finance"}`},
		{args: []string{"org", "check-subdomain", "--subdomain", "acme", "--name", "Acme"}, method: "GET", path: "/api/v1/orgs/subdomain-check", wantStdout: "acme-2"},
		{args: []string{"token", "revoke", "pat_1"}, method: "DELETE", path: "/api/v1/me/tokens/pat_1"},
		{args: []string{"key", "revoke", "org_1", "key_1"}, method: "POST", path: "/api/v1/orgs/org_1/api-keys/key_1/revoke", wantStdout: "revoked"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := execCLI(t, tc.stdin, append([]string{"--server", f.URL, "--token", "t"}, tc.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			got := f.last(t)
			if got.Method != tc.method || got.Path != tc.path || got.Body != tc.body {
				t.Errorf("request %+v", got)
			}
			if !strings.Contains(r.stdout, tc.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantStdout, r.stdout)
			}
		})
	}
}

func TestUnreachableServerHint(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	url := f.URL
	f.Close() // nothing listens any more
	r := execCLI(t, "", "--server", url, "--token", "t", "org", "list")
	if r.err == nil || !strings.Contains(r.err.Error(), "is a TrailSpark server running at "+url) {
		t.Fatalf("err = %v", r.err)
	}
}
