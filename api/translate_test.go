package api_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/api/apitest"
)

// TestConnectorTranslatedIngestion: a Marketo webhook and a Segment call
// sent to /api/signal-staging/connector/{connector}/{key} are translated by
// the real connector plugins into signals that land on leads.
func TestConnectorTranslatedIngestion(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"marketo", "segment"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "trailspark-connector-"+name), "./plugins/"+name)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	e := newEnv(t, apitest.Options{PluginsDir: dir})
	ann := e.user("ann")
	o := e.org(ann, "Translated")
	base := "/api/v1/orgs/" + o.ID
	k := e.key(o.ID, ann.Token, map[string]any{"name": "hooks"})

	form, err := os.ReadFile("../plugins/marketo/testdata/webhook_form.json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Accepted int `json:"accepted"`
	}
	// Responses are validated against api/openapi.yaml.
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: "http://trailspark.local"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	v := &validator{t: t, router: router, url: e.n.URL, seen: map[string]bool{}}
	m := v.mustSend(http.StatusAccepted, call{method: "POST", path: "/api/signal-staging/connector/marketo/" + k.Key, raw: form, ctype: "application/json"})
	if m["accepted"] != 1.0 {
		t.Fatalf("marketo webhook: %v", m)
	}
	v.mustSend(http.StatusNotFound, call{method: "POST", path: "/api/signal-staging/connector/nope/" + k.Key, raw: form, ctype: "application/json"})
	e.ok(e.do("POST", "/api/signal-staging/connector/segment/"+k.Key, "", map[string]any{
		"type": "track", "event": "Trial Started", "userId": "u-7", "messageId": "seg-1",
		"context": map[string]any{"traits": map[string]any{"email": "lee@hooli.xyz"}}}), http.StatusAccepted, &res)
	if res.Accepted != 1 {
		t.Fatalf("segment call: %+v", res)
	}
	for _, email := range []string{"dana@hooli.xyz", "lee@hooli.xyz"} {
		var l list[actors.Lead]
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			e.ok(e.do("GET", base+"/leads?email="+email, ann.Token, nil), http.StatusOK, &l)
			if len(l.Items) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no lead for %s", email)
			}
		}
	}
	e.fails(e.do("POST", "/api/signal-staging/connector/nope/"+k.Key, "", rawBody(form)), http.StatusNotFound, "connector_not_found", "")
	e.fails(e.do("POST", "/api/signal-staging/connector/marketo/sk_bad", "", rawBody(form)), http.StatusUnauthorized, "key_invalid", "")
	e.fails(e.do("POST", "/api/signal-staging/connector/marketo/"+k.Key, "", rawBody(`{"no":"email"`)), http.StatusBadRequest, "untranslatable_payload", "")
}
