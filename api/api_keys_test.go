package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/store"
)

type keySelf struct {
	OrgID string `json:"org_id"`
	KeyID string `json:"key_id"`
	Type  string `json:"type"`
	Name  string `json:"name"`
}

// self calls GET /api/v1/api-keys/self with key as bearer.
func (e *tenv) self(key string, opts ...reqOpt) resp {
	e.t.Helper()
	return e.do("GET", "/api/v1/api-keys/self", key, nil, opts...)
}

func (e *tenv) selfOK(key, org, id string) {
	e.t.Helper()
	var s keySelf
	e.ok(e.self(key), http.StatusOK, &s)
	if s.OrgID != org || s.KeyID != id {
		e.t.Errorf("self: got %+v, want org %s key %s", s, org, id)
	}
}

func TestAPIKeyLifecycle(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner")
	editor := e.user("editor")
	o := e.org(owner, "Keys Inc")
	e.join(o.ID, owner.Token, editor, "editor")
	base := "/api/v1/orgs/" + o.ID + "/api-keys"

	t.Run("create shows the key once; list and get never", func(t *testing.T) {
		e := e.at(t)
		kc := e.key(o.ID, editor.Token, map[string]any{"name": "ingest"})
		if len(kc.Key) != len("sk_")+48 {
			t.Errorf("key %q has length %d", kc.Key, len(kc.Key))
		}
		k := kc.APIKey
		if !strings.HasPrefix(k.ID, "key_") || k.Name != "ingest" || k.Type != "signal_staging" || k.Status != "active" ||
			k.HasSecret || kc.Secret != "" || k.ExpiresAt != nil || k.RevokedAt != nil || k.RotatedFrom != nil {
			t.Errorf("created key: %+v secret %q", k, kc.Secret)
		}
		if k.Prefix != kc.Key[:len("sk_")+10] {
			t.Errorf("prefix %q is not the start of the key", k.Prefix)
		}
		if !k.CreatedAt.Equal(e.n.Clock.Now()) {
			t.Errorf("created_at %v, want %v", k.CreatedAt, e.n.Clock.Now())
		}
		secretPart := kc.Key[len(k.Prefix):]
		for _, r := range []resp{e.do("GET", base, editor.Token, nil), e.do("GET", base+"/"+k.ID, editor.Token, nil)} {
			if r.Status != 200 {
				t.Fatalf("%s", r)
			}
			if strings.Contains(string(r.Body), secretPart) {
				t.Errorf("%s %s shows the key", r.Method, r.Path)
			}
			if !strings.Contains(string(r.Body), `"prefix":"`+k.Prefix+`"`) {
				t.Errorf("%s %s lacks the prefix: %s", r.Method, r.Path, r.Body)
			}
		}
		var l list[keyView]
		e.ok(e.do("GET", base, editor.Token, nil), 200, &l)
		if len(l.Items) != 1 || l.Items[0].ID != k.ID {
			t.Errorf("list: %+v", l.Items)
		}

		// The key authenticates itself, and its use is recorded.
		e.n.Clock.Advance(time.Minute)
		var s keySelf
		e.ok(e.self(kc.Key), 200, &s)
		if s != (keySelf{OrgID: o.ID, KeyID: k.ID, Type: "signal_staging", Name: "ingest"}) {
			t.Errorf("self: %+v", s)
		}
		var got keyView
		e.ok(e.do("GET", base+"/"+k.ID, editor.Token, nil), 200, &got)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(e.n.Clock.Now()) {
			t.Errorf("last_used_at %v, want %v", got.LastUsedAt, e.n.Clock.Now())
		}
	})

	t.Run("self rejects what is not a live key", func(t *testing.T) {
		e := e.at(t)
		e.fails(e.self(""), 401, "missing_credential", "")
		e.fails(e.self("sk_nonsense"), 401, "key_invalid", "")
		e.fails(e.self(owner.Token), 401, "key_invalid", "")
		// Well formed, never issued.
		fake, _, _ := credential.NewToken(strings.NewReader(strings.Repeat("x", 200)), "sk_")
		e.fails(e.self(fake), 401, "key_invalid", "")
	})

	t.Run("revoke", func(t *testing.T) {
		e := e.at(t)
		kc := e.key(o.ID, editor.Token, nil)
		e.selfOK(kc.Key, o.ID, kc.APIKey.ID)
		var k keyView
		e.ok(e.do("POST", base+"/"+kc.APIKey.ID+"/revoke", editor.Token, nil), 200, &k)
		if k.Status != "revoked" || k.RevokedAt == nil || !k.RevokedAt.Equal(e.n.Clock.Now()) {
			t.Errorf("revoked key: %+v", k)
		}
		e.fails(e.self(kc.Key), 401, "key_revoked", "")
		// Revoking again keeps the first time.
		first := *k.RevokedAt
		e.n.Clock.Advance(time.Second)
		e.ok(e.do("POST", base+"/"+kc.APIKey.ID+"/revoke", editor.Token, nil), 200, &k)
		if !k.RevokedAt.Equal(first) {
			t.Errorf("second revoke moved revoked_at to %v", k.RevokedAt)
		}
		e.fails(e.do("POST", base+"/key_doesnotexist00000/revoke", editor.Token, nil), 404, "api_key_not_found", "")
	})

	t.Run("expiry follows the clock", func(t *testing.T) {
		e := e.at(t)
		exp := e.n.Clock.Now().Add(time.Hour)
		kc := e.key(o.ID, editor.Token, map[string]any{"name": "short-lived", "expires_at": exp.Format(time.RFC3339)})
		if kc.APIKey.ExpiresAt == nil || !kc.APIKey.ExpiresAt.Equal(exp) {
			t.Errorf("expires_at %v, want %v", kc.APIKey.ExpiresAt, exp)
		}
		e.n.Clock.Advance(time.Hour - time.Second)
		e.selfOK(kc.Key, o.ID, kc.APIKey.ID)
		e.n.Clock.Advance(time.Second)
		e.fails(e.self(kc.Key), 401, "key_expired", "")
		var k keyView
		e.ok(e.do("GET", base+"/"+kc.APIKey.ID, editor.Token, nil), 200, &k)
		if k.Status != "expired" {
			t.Errorf("status %q, want expired", k.Status)
		}
		// An expired key cannot be rotated either (409, like a revoked one).
		e.fails(e.do("POST", base+"/"+kc.APIKey.ID+"/rotate", editor.Token, nil), 409, "key_expired", "")
		// An expiry that is not in the future is refused.
		e.fails(e.do("POST", base, editor.Token, map[string]any{"name": "past", "expires_at": e.n.Clock.Now().Format(time.RFC3339)}),
			400, "out_of_range", "expires_at")
	})

	t.Run("rotate", func(t *testing.T) {
		e := e.at(t)
		old := e.key(o.ID, editor.Token, map[string]any{"name": "rotating"})
		var nu keyCreated
		e.ok(e.do("POST", base+"/"+old.APIKey.ID+"/rotate", editor.Token, nil), 201, &nu)
		if !strings.HasPrefix(nu.Key, "sk_") || nu.Key == old.Key || nu.APIKey.ID == old.APIKey.ID {
			t.Fatalf("rotated: %+v", nu)
		}
		if nu.APIKey.RotatedFrom == nil || *nu.APIKey.RotatedFrom != old.APIKey.ID || nu.APIKey.Name != "rotating" ||
			nu.APIKey.Type != old.APIKey.Type || nu.APIKey.Status != "active" {
			t.Errorf("rotated key: %+v", nu.APIKey)
		}
		// Both work until the old one is revoked.
		e.selfOK(old.Key, o.ID, old.APIKey.ID)
		e.selfOK(nu.Key, o.ID, nu.APIKey.ID)
		e.ok(e.do("POST", base+"/"+old.APIKey.ID+"/revoke", editor.Token, nil), 200, nil)
		e.fails(e.self(old.Key), 401, "key_revoked", "")
		e.selfOK(nu.Key, o.ID, nu.APIKey.ID)
		// A revoked key cannot be rotated.
		e.fails(e.do("POST", base+"/"+old.APIKey.ID+"/rotate", editor.Token, nil), 409, "key_revoked", "")
	})

	t.Run("secret", func(t *testing.T) {
		e := e.at(t)
		kc := e.key(o.ID, editor.Token, map[string]any{"name": "signed", "with_secret": true})
		if !kc.APIKey.HasSecret || !strings.HasPrefix(kc.Secret, "sks_") {
			t.Fatalf("key with secret: %+v secret %q", kc.APIKey, kc.Secret)
		}
		for _, r := range []resp{e.do("GET", base, editor.Token, nil), e.do("GET", base+"/"+kc.APIKey.ID, editor.Token, nil)} {
			if strings.Contains(string(r.Body), kc.Secret) {
				t.Errorf("%s %s shows the secret", r.Method, r.Path)
			}
		}
		e.fails(e.self(kc.Key), 401, "secret_required", "")
		e.fails(e.self(kc.Key, withHeader("X-Api-Secret", kc.Secret+"x")), 401, "secret_invalid", "")
		e.fails(e.self(kc.Key, withHeader("X-Api-Secret", "sks_wrong")), 401, "secret_invalid", "")
		e.ok(e.self(kc.Key, withHeader("X-Api-Secret", kc.Secret)), 200, nil)

		// Signature over the empty body of a GET, at the node's time.
		signedAt := e.n.Clock.Now()
		sig := credential.Sign(kc.Secret, signedAt, nil)
		e.ok(e.self(kc.Key, withHeader("X-TrailSpark-Signature", sig)), 200, nil)
		// Several v1 entries (secret rotation on the sender's side): one match is enough.
		other := credential.Sign("sks_someoldsecret", signedAt, nil)
		multi := sig + "," + other[strings.Index(other, "v1="):]
		e.ok(e.self(kc.Key, withHeader("X-TrailSpark-Signature", multi)), 200, nil)
		e.fails(e.self(kc.Key, withHeader("X-TrailSpark-Signature", other)), 401, "signature_invalid", "")
		e.fails(e.self(kc.Key, withHeader("X-TrailSpark-Signature", "garbage")), 401, "signature_invalid", "")
		// Signed over a body the request does not carry.
		e.fails(e.self(kc.Key, withHeader("X-TrailSpark-Signature", credential.Sign(kc.Secret, signedAt, []byte("{}")))),
			401, "signature_invalid", "")
		e.n.Clock.Advance(300 * time.Second)
		e.ok(e.self(kc.Key, withHeader("X-TrailSpark-Signature", sig)), 200, nil)
		e.n.Clock.Advance(time.Second)
		e.fails(e.self(kc.Key, withHeader("X-TrailSpark-Signature", sig)), 401, "signature_expired", "")
		// Future-dated beyond the tolerance, too.
		e.fails(e.self(kc.Key, withHeader("X-TrailSpark-Signature", credential.Sign(kc.Secret, e.n.Clock.Now().Add(301*time.Second), nil))),
			401, "signature_expired", "")

		// A rotated key keeps needing a secret, and gets a new one.
		var nu keyCreated
		e.ok(e.do("POST", base+"/"+kc.APIKey.ID+"/rotate", editor.Token, nil), 201, &nu)
		if !nu.APIKey.HasSecret || !strings.HasPrefix(nu.Secret, "sks_") || nu.Secret == kc.Secret {
			t.Errorf("rotated key with secret: %+v secret %q", nu.APIKey, nu.Secret)
		}
		e.fails(e.self(nu.Key), 401, "secret_required", "")
		e.fails(e.self(nu.Key, withHeader("X-Api-Secret", kc.Secret)), 401, "secret_invalid", "")
		e.ok(e.self(nu.Key, withHeader("X-Api-Secret", nu.Secret)), 200, nil)
	})

	t.Run("product_org keys need a payload template", func(t *testing.T) {
		e := e.at(t)
		e.fails(e.do("POST", base, editor.Token, map[string]any{"name": "po", "type": "product_org"}),
			400, "required", "payload_template")
		e.fails(e.do("POST", base, editor.Token, map[string]any{"name": "po", "type": "product_org",
			"payload_template": map[string]any{"name": "data.name"}}), 400, "required", "payload_template.product_org_id")
		e.fails(e.do("POST", base, editor.Token, map[string]any{"name": "po", "type": "product_org",
			"payload_template": map[string]any{"product_org_id": 7}}), 400, "wrong_type", "payload_template.product_org_id")
		e.fails(e.do("POST", base, editor.Token, map[string]any{"name": "ss",
			"payload_template": map[string]any{"product_org_id": "data.id"}}), 400, "not_allowed", "payload_template")
		e.fails(e.do("POST", base, editor.Token, map[string]any{"name": "x", "type": "webhook"}), 400, "invalid_enum", "type")
		kc := e.key(o.ID, editor.Token, map[string]any{"name": "po", "type": "product_org",
			"payload_template": map[string]any{"product_org_id": "data.workspace.id", "name": "data.workspace.name"}})
		if kc.APIKey.Type != "product_org" || kc.APIKey.PayloadTemplate["product_org_id"] != "data.workspace.id" {
			t.Errorf("product_org key: %+v", kc.APIKey)
		}
		var s keySelf
		e.ok(e.self(kc.Key), 200, &s)
		if s.Type != "product_org" {
			t.Errorf("self type %q", s.Type)
		}
	})

	t.Run("deleting the organization kills its keys", func(t *testing.T) {
		e := e.at(t)
		boss := e.user("boss")
		doomed := e.org(boss, "Doomed")
		kc := e.key(doomed.ID, boss.Token, nil)
		e.selfOK(kc.Key, doomed.ID, kc.APIKey.ID)
		e.ok(e.do("DELETE", "/api/v1/orgs/"+doomed.ID, boss.Token, nil), 204, nil)
		e.fails(e.self(kc.Key), 401, "key_invalid", "")
		e.fails(e.do("GET", "/api/v1/orgs/"+doomed.ID+"/api-keys/"+kc.APIKey.ID, e.n.OperatorToken, nil), 404, "organization_not_found", "")
	})
}

// TestSecretsAtRest: after every kind of credential has been minted and
// used, no key or value in the store (with every layer of JSON and base64
// peeled) holds a password, token, key, secret or clear email address.
func TestSecretsAtRest(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner")
	member := e.user("member")
	var pat struct {
		Token string `json:"token"`
	}
	e.ok(e.do("POST", "/api/v1/me/tokens", owner.Token, map[string]string{"name": "ci"}), 201, &pat)
	e.ok(e.do("GET", "/api/v1/me", pat.Token, nil), 200, nil)
	o := e.org(owner, "Vault")
	base := "/api/v1/orgs/" + o.ID
	kc := e.key(o.ID, pat.Token, map[string]any{"name": "vaulted", "with_secret": true})
	e.ok(e.self(kc.Key, withHeader("X-Api-Secret", kc.Secret)), 200, nil)
	var rot keyCreated
	e.ok(e.do("POST", base+"/api-keys/"+kc.APIKey.ID+"/rotate", owner.Token, nil), 201, &rot)
	inviteeEmail := "invitee.vault@example.test"
	inv := e.invite(o.ID, owner.Token, inviteeEmail, "editor")
	var resent invitationCreated
	e.ok(e.do("POST", base+"/invitations/"+inv.Invitation.ID+"/resend", owner.Token, nil), 200, &resent)
	e.join(o.ID, owner.Token, member, "viewer")
	e.ok(e.do("PATCH", base+"/members/"+member.ID, owner.Token, map[string]string{"role": "admin"}), 200, nil)

	// Kept by the user directory (hashes only): must never be at rest.
	users := map[string]string{
		"owner password":        owner.Password,
		"member password":       member.Password,
		"session token":         owner.Token,
		"member session token":  member.Token,
		"session (secret part)": owner.Token[len("tss_")+10:],
		"personal access token": pat.Token,
		"PAT (secret part)":     pat.Token[len("tsp_")+10:],
		"owner email":           owner.Email,
		"operator token":        e.n.OperatorToken,
	}
	// Minted by the org grain.
	org := map[string]string{
		"sk_ key":                  kc.Key,
		"sk_ key (secret part)":    kc.Key[len("sk_")+10:],
		"key secret":               kc.Secret,
		"rotated sk_ key":          rot.Key,
		"rotated key secret":       rot.Secret,
		"invitation token":         inv.Token,
		"invitation (secret part)": inv.Token[len("tsi_")+10:],
		"resent invitation token":  resent.Token,
		"member email":             member.Email,
		"invitee email":            inviteeEmail,
	}
	all := map[string]string{}
	for k, v := range users {
		all[k] = v
	}
	for k, v := range org {
		all[k] = v
	}

	// Plain keys and values first: nothing in clear.
	var plain []string
	err := e.n.Store.Scan(context.Background(), []byte(""), nil, func(it store.Item) error {
		plain = append(plain, string(it.Key), string(it.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) < 20 {
		t.Fatalf("the store scan found almost nothing (%d keys)", len(plain)/2)
	}
	assertAbsent(t, "the store (raw)", plain, all)

	// Then with every layer of JSON and base64 peeled.
	dump := e.storeDump()
	assertAbsent(t, "the store (decoded)", dump, users)
	if leaks := findSecrets("the store (decoded)", dump, org); len(leaks) > 0 {
		for _, l := range leaks {
			t.Error(l)
		}
		t.Fatal("secrets or clear emails rest readable in the store (e.g. in the org grain's recent replies)")
	}
}
