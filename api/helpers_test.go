package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/api/apitest"
	"github.com/trailspark/trailspark/store"
)

// Shared helpers for the API integration tests. Every request goes through
// tenv.do, which asserts the X-Request-Id header (docs/api.md: every
// response carries one) and that the server never answers 5xx.

// tenv is one running node seen from one (sub)test: failures are
// reported on t.
type tenv struct {
	t *testing.T
	*node
}

// node is what subtests share.
type node struct {
	n      *apitest.Node
	http   *http.Client
	mu     sync.Mutex
	seq    int
	reqIDs []string // X-Request-Id of every response, in order
}

func newEnv(t *testing.T, opts ...apitest.Options) *tenv {
	t.Helper()
	n := apitest.Start(t, opts...)
	return &tenv{t: t, node: &node{n: n, http: &http.Client{Timeout: 30 * time.Second}}}
}

// at is e reporting on t (use inside t.Run).
func (e *tenv) at(t *testing.T) *tenv { return &tenv{t: t, node: e.node} }

// next returns a number unique within this node (for emails, subdomains).
func (e *node) next() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	return e.seq
}

// rawBody is a request body sent as is (not JSON-encoded).
type rawBody []byte

// reqOpt tweaks one request.
type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// chunked hides the body length so the server must stream it.
func chunked() reqOpt { return func(r *http.Request) { r.ContentLength = -1 } }

// resp is a read HTTP response.
type resp struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r resp) String() string {
	return fmt.Sprintf("%s %s -> %d %s", r.Method, r.Path, r.Status, bytes.TrimSpace(r.Body))
}

// apiErr is the standard error body.
type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// do sends one request. token "" sends no Authorization header. body nil
// sends none; rawBody is sent as is; anything else is JSON-encoded. A body
// gets Content-Type application/json unless an option sets another.
func (e *tenv) do(method, path, token string, body any, opts ...reqOpt) resp {
	e.t.Helper()
	r, err := e.send(method, path, token, body, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// send is do without t.Fatal, safe to call from other goroutines.
func (e *tenv) send(method, path, token string, body any, opts ...reqOpt) (resp, error) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			return resp{}, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.n.URL+path, rd)
	if err != nil {
		return resp{}, fmt.Errorf("new request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, o := range opts {
		o(req)
	}
	res, err := e.http.Do(req)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	r := resp{Method: method, Path: path, Status: res.StatusCode, Header: res.Header, Body: b}
	id := res.Header.Get("X-Request-Id")
	if id == "" {
		e.t.Errorf("%s: no X-Request-Id header", r)
	} else {
		e.mu.Lock()
		e.reqIDs = append(e.reqIDs, id)
		e.mu.Unlock()
	}
	if r.Status >= 500 {
		e.t.Errorf("%s: server error", r)
	}
	return r, nil
}

// ok asserts the exact status and decodes the body into out (when non-nil).
func (e *tenv) ok(r resp, status int, out any) {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("%s: want status %d", r, status)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			e.t.Fatalf("%s: decode: %v", r, err)
		}
	}
}

// fails asserts an error response: status, error.code and (when field is
// not "-") error.field.
func (e *tenv) fails(r resp, status int, code, field string) {
	e.t.Helper()
	if msg := checkErr(r, status, code, field); msg != "" {
		e.t.Error(msg)
	}
}

func checkErr(r resp, status int, code, field string) string {
	if r.Status != status {
		return fmt.Sprintf("%s: want status %d %s", r, status, code)
	}
	var ae apiErr
	if err := json.Unmarshal(r.Body, &ae); err != nil {
		return fmt.Sprintf("%s: error body is not JSON: %v", r, err)
	}
	if ae.Error.Code != code {
		return fmt.Sprintf("%s: want error.code %q", r, code)
	}
	if ae.Error.Message == "" {
		return fmt.Sprintf("%s: error.message is empty", r)
	}
	if field != "-" && ae.Error.Field != field {
		return fmt.Sprintf("%s: want error.field %q, got %q", r, field, ae.Error.Field)
	}
	return ""
}

func errCode(r resp) string {
	var ae apiErr
	_ = json.Unmarshal(r.Body, &ae)
	return ae.Error.Code
}

// ---- fixtures

type user struct {
	ID, Email, Password, Name string
	Token                     string // session token
}

type orgView struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Subdomain string         `json:"subdomain"`
	Size      string         `json:"size"`
	Industry  string         `json:"industry"`
	Plan      string         `json:"plan"`
	Settings  map[string]any `json:"settings"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	Role      string         `json:"role"`
}

type memberView struct {
	UserID   string    `json:"user_id"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

type invitationView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Status    string    `json:"status"`
	InvitedBy string    `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

type invitationCreated struct {
	Invitation invitationView `json:"invitation"`
	Token      string         `json:"token"`
}

type keyView struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Type            string         `json:"type"`
	Prefix          string         `json:"prefix"`
	HasSecret       bool           `json:"has_secret"`
	PayloadTemplate map[string]any `json:"payload_template"`
	Status          string         `json:"status"`
	CreatedAt       time.Time      `json:"created_at"`
	ExpiresAt       *time.Time     `json:"expires_at"`
	LastUsedAt      *time.Time     `json:"last_used_at"`
	RevokedAt       *time.Time     `json:"revoked_at"`
	RotatedFrom     *string        `json:"rotated_from"`
}

type keyCreated struct {
	APIKey keyView `json:"api_key"`
	Key    string  `json:"key"`
	Secret string  `json:"secret"`
}

type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// user registers and logs in a new user whose email starts with name.
func (e *tenv) user(name string) *user {
	e.t.Helper()
	u := &user{Name: name, Email: fmt.Sprintf("%s.%d@example.test", strings.ToLower(name), e.next()),
		Password: fmt.Sprintf("pw-%s-%d-correct-horse", name, e.next())}
	var reg struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	e.ok(e.do("POST", "/api/v1/auth/register", "", map[string]string{"email": u.Email, "password": u.Password, "name": name}),
		http.StatusCreated, &reg)
	if reg.ID == "" || reg.Email != u.Email {
		e.t.Fatalf("register %s: got %+v", u.Email, reg)
	}
	u.ID = reg.ID
	e.login(u)
	return u
}

// login starts a new session for u (use after advancing the clock past
// the session TTL).
func (e *tenv) login(u *user) {
	e.t.Helper()
	var lr struct {
		Token string `json:"token"`
	}
	e.ok(e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": u.Password}), http.StatusOK, &lr)
	if !strings.HasPrefix(lr.Token, "tss_") {
		e.t.Fatalf("login: token %q", lr.Token)
	}
	u.Token = lr.Token
}

// sub returns a fresh, valid subdomain.
func (e *tenv) sub(base string) string { return fmt.Sprintf("%s-%d", base, e.next()) }

// org creates an organization owned by owner.
func (e *tenv) org(owner *user, name string) orgView {
	e.t.Helper()
	var o orgView
	// Without the starter rules: these tests define exactly the rules they
	// test (TestStarterRules covers the defaults). On the unlimited-models
	// plan: quotas have their own tests (TestUsageAndQuotas).
	e.ok(e.do("POST", "/api/v1/orgs", owner.Token, map[string]any{"name": name, "subdomain": e.sub("org"),
		"size": "11-50", "industry": "Technology", "starter_rules": false, "plan": "scale"}), http.StatusCreated, &o)
	if o.Role != "owner" {
		e.t.Fatalf("new org: role %q", o.Role)
	}
	return o
}

// invite invites email into org with role ("" = default).
func (e *tenv) invite(org, token, email, role string) invitationCreated {
	e.t.Helper()
	body := map[string]string{"email": email}
	if role != "" {
		body["role"] = role
	}
	var ic invitationCreated
	e.ok(e.do("POST", "/api/v1/orgs/"+org+"/invitations", token, body), http.StatusCreated, &ic)
	return ic
}

// join makes u a member of org with role (invited by inviter, accepted by u).
func (e *tenv) join(org, inviterToken string, u *user, role string) {
	e.t.Helper()
	ic := e.invite(org, inviterToken, u.Email, role)
	var ar struct {
		Role string `json:"role"`
	}
	e.ok(e.do("POST", "/api/v1/orgs/"+org+"/invitations/accept", u.Token, map[string]string{"token": ic.Token}), http.StatusOK, &ar)
	if ar.Role != role {
		e.t.Fatalf("accepted role %q, want %q", ar.Role, role)
	}
}

// key creates an API key in org.
func (e *tenv) key(org, token string, body map[string]any) keyCreated {
	e.t.Helper()
	if body == nil {
		body = map[string]any{"name": fmt.Sprintf("key %d", e.next())}
	}
	var kc keyCreated
	e.ok(e.do("POST", "/api/v1/orgs/"+org+"/api-keys", token, body), http.StatusCreated, &kc)
	if !strings.HasPrefix(kc.Key, "sk_") {
		e.t.Fatalf("created key %q", kc.Key)
	}
	return kc
}

// members lists org's members as the operator.
func (e *tenv) members(org string) []memberView {
	e.t.Helper()
	var l list[memberView]
	e.ok(e.do("GET", "/api/v1/orgs/"+org+"/members", e.n.OperatorToken, nil), http.StatusOK, &l)
	return l.Items
}

// orgIDs lists every organization id (as the operator).
func (e *tenv) orgIDs() []string {
	e.t.Helper()
	var l list[orgView]
	e.ok(e.do("GET", "/api/v1/orgs?limit=200", e.n.OperatorToken, nil), http.StatusOK, &l)
	var ids []string
	for _, o := range l.Items {
		ids = append(ids, o.ID)
	}
	return ids
}

// ---- store inspection

// storeDump returns every key and value in the store, with every layer
// of encoding peeled: values are often JSON holding base64 of JSON holding
// base64 (e.g. []byte fields), and a secret hidden one layer down is still
// a secret at rest.
func (e *tenv) storeDump() []string {
	e.t.Helper()
	var out []string
	err := e.n.Store.Scan(context.Background(), []byte(""), nil, func(it store.Item) error {
		out = append(out, string(it.Key))
		for _, s := range peel(it.Value, 0) {
			out = append(out, "["+string(it.Key)+"] "+s)
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("scan store: %v", err)
	}
	return out
}

// peel returns b and every string found by decoding b as JSON and
// strings inside it as base64, recursively.
func peel(b []byte, depth int) []string {
	out := []string{string(b)}
	if depth > 6 {
		return out
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		for _, s := range jsonStrings(v) {
			out = append(out, s)
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				if d, err := enc.DecodeString(s); err == nil && len(d) > 0 {
					out = append(out, peel(d, depth+1)...)
					break
				}
			}
		}
	}
	return out
}

func jsonStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, k)
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}

// assertAbsent fails for each named secret found in any of haystack.
func assertAbsent(t *testing.T, where string, haystack []string, secrets map[string]string) {
	t.Helper()
	for _, msg := range findSecrets(where, haystack, secrets) {
		t.Error(msg)
	}
}

// findSecrets describes each named secret found in any of haystack.
func findSecrets(where string, haystack []string, secrets map[string]string) []string {
	var out []string
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := secrets[name]
		if s == "" {
			out = append(out, fmt.Sprintf("%s: secret %q is empty; the test did not capture it", where, name))
			continue
		}
		for _, h := range haystack {
			if i := strings.Index(h, s); i >= 0 {
				lo, hi := max(0, i-80), min(len(h), i+len(s)+40)
				at := ""
				if strings.HasPrefix(h, "[") {
					at = " at " + h[:strings.IndexByte(h, ']')+1]
				}
				out = append(out, fmt.Sprintf("%s holds the %s%s: ...%s...", where, name, at, h[lo:hi]))
				break
			}
		}
	}
	return out
}
