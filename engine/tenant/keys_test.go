package tenant_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
)

func TestNewKeyInputValidate(t *testing.T) {
	t.Parallel()
	now := t0
	okTemplate := func() map[string]any {
		return map[string]any{"product_org_id": "data.org.id", "name": "data.org.name", "mrr": "data.billing.mrr"}
	}
	manyFields := func(n int) map[string]any {
		m := map[string]any{"product_org_id": "id"}
		for i := 1; i < n; i++ {
			m[fmt.Sprintf("custom_%d", i)] = fmt.Sprintf("data.f%d", i)
		}
		return m
	}
	tests := []struct {
		name     string
		in       tenant.NewKeyInput
		wantType string // on success
		wantName string // on success
		field    string
		code     string
	}{
		{name: "minimal defaults to signal_staging", in: tenant.NewKeyInput{Name: "Website"},
			wantType: "signal_staging", wantName: "Website"},
		{name: "name trimmed", in: tenant.NewKeyInput{Name: "  Website  "},
			wantType: "signal_staging", wantName: "Website"},
		{name: "explicit signal_staging with secret", in: tenant.NewKeyInput{Name: "k", Type: "signal_staging", WithSecret: true},
			wantType: "signal_staging", wantName: "k"},
		{name: "future expiry", in: tenant.NewKeyInput{Name: "k", ExpiresAt: ptr(now.Add(time.Nanosecond))},
			wantType: "signal_staging", wantName: "k"},
		{name: "product_org with template", in: tenant.NewKeyInput{Name: "k", Type: "product_org", PayloadTemplate: okTemplate()},
			wantType: "product_org", wantName: "k"},
		{name: "product_org with only product_org_id", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": "id"}}, wantType: "product_org", wantName: "k"},
		{name: "template of 100 fields", in: tenant.NewKeyInput{Name: "k", Type: "product_org", PayloadTemplate: manyFields(100)},
			wantType: "product_org", wantName: "k"},
		{name: "template path of 200 chars", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": strings.Repeat("a", 200)}}, wantType: "product_org", wantName: "k"},
		{name: "signal_staging with empty template map", in: tenant.NewKeyInput{Name: "k", PayloadTemplate: map[string]any{}},
			wantType: "signal_staging", wantName: "k"},

		{name: "name empty", in: tenant.NewKeyInput{}, field: "name", code: "required"},
		{name: "name blank", in: tenant.NewKeyInput{Name: " \t"}, field: "name", code: "required"},
		{name: "name too long", in: tenant.NewKeyInput{Name: strings.Repeat("k", 101)}, field: "name", code: "too_long"},
		{name: "bad type", in: tenant.NewKeyInput{Name: "k", Type: "webhook"}, field: "type", code: "invalid_enum"},
		{name: "type wrong case", in: tenant.NewKeyInput{Name: "k", Type: "Product_Org"}, field: "type", code: "invalid_enum"},
		{name: "expiry now", in: tenant.NewKeyInput{Name: "k", ExpiresAt: ptr(now)}, field: "expires_at", code: "out_of_range"},
		{name: "expiry past", in: tenant.NewKeyInput{Name: "k", ExpiresAt: ptr(now.Add(-24 * time.Hour))}, field: "expires_at", code: "out_of_range"},
		{name: "product_org without template", in: tenant.NewKeyInput{Name: "k", Type: "product_org"},
			field: "payload_template", code: "required"},
		{name: "product_org with empty template", in: tenant.NewKeyInput{Name: "k", Type: "product_org", PayloadTemplate: map[string]any{}},
			field: "payload_template", code: "required"},
		{name: "template without product_org_id", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"name": "data.name"}}, field: "payload_template.product_org_id", code: "required"},
		{name: "product_org_id not a string", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": 42}}, field: "payload_template.product_org_id", code: "wrong_type"},
		{name: "product_org_id blank", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": "  "}}, field: "payload_template.product_org_id", code: "wrong_type"},
		{name: "product_org_id nil", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": nil}}, field: "payload_template.product_org_id", code: "wrong_type"},
		{name: "other value a number", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": "id", "mrr": 100}}, field: "payload_template.mrr", code: "wrong_type"},
		{name: "other value an object", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": "id", "flags": map[string]any{"a": "b"}}}, field: "payload_template.flags", code: "wrong_type"},
		{name: "other value a bool", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": "id", "trial": true}}, field: "payload_template.trial", code: "wrong_type"},
		{name: "other value a list", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": "id", "tags": []any{"a"}}}, field: "payload_template.tags", code: "wrong_type"},
		{name: "path too long", in: tenant.NewKeyInput{Name: "k", Type: "product_org",
			PayloadTemplate: map[string]any{"product_org_id": "id", "name": strings.Repeat("a", 201)}}, field: "payload_template.name", code: "too_long"},
		{name: "template of 101 fields", in: tenant.NewKeyInput{Name: "k", Type: "product_org", PayloadTemplate: manyFields(101)},
			field: "payload_template", code: "too_long"},
		{name: "signal_staging with template", in: tenant.NewKeyInput{Name: "k", Type: "signal_staging", PayloadTemplate: okTemplate()},
			field: "payload_template", code: "not_allowed"},
		{name: "default type with template", in: tenant.NewKeyInput{Name: "k", PayloadTemplate: okTemplate()},
			field: "payload_template", code: "not_allowed"},
		{name: "name checked before type", in: tenant.NewKeyInput{Type: "bogus"}, field: "name", code: "required"},
		{name: "type checked before expiry", in: tenant.NewKeyInput{Name: "k", Type: "bogus", ExpiresAt: ptr(now)}, field: "type", code: "invalid_enum"},
		{name: "expiry checked before template", in: tenant.NewKeyInput{Name: "k", Type: "product_org", ExpiresAt: ptr(now)}, field: "expires_at", code: "out_of_range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			err := in.Validate(now)
			if tc.code != "" {
				wantErr(t, err, errs.KindInvalid, tc.code, tc.field)
				return
			}
			wantNoErr(t, err)
			if in.Type != tc.wantType || in.Name != tc.wantName {
				t.Errorf("after Validate: type=%q name=%q, want %q %q", in.Type, in.Name, tc.wantType, tc.wantName)
			}
		})
	}
}

func newKey(id string) tenant.APIKey {
	return tenant.APIKey{
		ID:      id,
		Name:    "key " + id,
		Type:    tenant.KeySignalStaging,
		TokenID: "tid_" + id,
		Hash:    []byte("hash_" + id),
	}
}

func TestAddKey(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	k := newKey("k1")
	k.CreatedAt = t0.Add(-1000 * time.Hour) // overwritten
	k.SecretSealed = "sealed"
	k.PayloadTemplate = map[string]any{"product_org_id": "id"}
	k.Type = tenant.KeyProductOrg
	exp := t0.Add(30 * 24 * time.Hour)
	k.ExpiresAt = &exp
	got, err := s.AddKey(k, t0)
	wantNoErr(t, err)
	if s.Keys["k1"] != got {
		t.Fatal("returned key is not the stored one")
	}
	if !got.CreatedAt.Equal(t0) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, t0)
	}
	if got.Name != "key k1" || got.TokenID != "tid_k1" || string(got.Hash) != "hash_k1" || got.SecretSealed != "sealed" ||
		got.Type != tenant.KeyProductOrg || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) ||
		got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Errorf("fields not kept: %+v", got)
	}
	if got.StatusAt(t0) != "active" {
		t.Errorf("new key status = %s", got.StatusAt(t0))
	}
}

func TestAddKeyLimit(t *testing.T) {
	t.Parallel()
	const limit = 500
	fill := func(t *testing.T, mutate func(i int, k *tenant.APIKey)) *tenant.State {
		s := newState(t, nil)
		for i := range limit {
			k := newKey(fmt.Sprintf("k%03d", i))
			if mutate != nil {
				mutate(i, &k)
			}
			if _, err := s.AddKey(k, t0); err != nil {
				t.Fatalf("key %d: %v", i, err)
			}
		}
		return s
	}
	now := t0.Add(200 * 24 * time.Hour)

	t.Run("full of active keys", func(t *testing.T) {
		t.Parallel()
		s := fill(t, nil)
		_, err := s.AddKey(newKey("one-too-many"), now)
		wantErr(t, err, errs.KindConflict, "too_many_keys", "")
		if len(s.Keys) != limit {
			t.Fatalf("keys = %d", len(s.Keys))
		}
	})
	t.Run("old revoked key pruned to make room", func(t *testing.T) {
		t.Parallel()
		s := fill(t, nil)
		old := now.Add(-91 * 24 * time.Hour)
		s.Keys["k007"].RevokedAt = &old
		_, err := s.AddKey(newKey("new"), now)
		wantNoErr(t, err)
		if _, ok := s.Keys["k007"]; ok {
			t.Error("old revoked key not pruned")
		}
		if len(s.Keys) != limit {
			t.Errorf("keys = %d, want %d", len(s.Keys), limit)
		}
	})
	t.Run("old expired key pruned to make room", func(t *testing.T) {
		t.Parallel()
		s := fill(t, nil)
		old := now.Add(-91 * 24 * time.Hour)
		s.Keys["k123"].ExpiresAt = &old
		_, err := s.AddKey(newKey("new"), now)
		wantNoErr(t, err)
		if _, ok := s.Keys["k123"]; ok {
			t.Error("old expired key not pruned")
		}
	})
	t.Run("recently revoked or expired keys kept", func(t *testing.T) {
		t.Parallel()
		s := fill(t, nil)
		edge := now.Add(-90 * 24 * time.Hour) // exactly 90 days: not more than 90
		recent := now.Add(-time.Hour)
		s.Keys["k001"].RevokedAt = &edge
		s.Keys["k002"].ExpiresAt = &edge
		s.Keys["k003"].RevokedAt = &recent
		future := now.Add(time.Hour)
		s.Keys["k004"].ExpiresAt = &future
		_, err := s.AddKey(newKey("new"), now)
		wantErr(t, err, errs.KindConflict, "too_many_keys", "")
		if len(s.Keys) != limit {
			t.Errorf("keys = %d, want %d", len(s.Keys), limit)
		}
	})
	t.Run("revocation time beats old expiry", func(t *testing.T) {
		t.Parallel()
		s := fill(t, nil)
		oldExp := now.Add(-300 * 24 * time.Hour)
		recentRevoke := now.Add(-time.Hour)
		s.Keys["k010"].ExpiresAt = &oldExp
		s.Keys["k010"].RevokedAt = &recentRevoke
		_, err := s.AddKey(newKey("new"), now)
		wantErr(t, err, errs.KindConflict, "too_many_keys", "")
	})
}

func TestRevokeKey(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	if _, err := s.AddKey(newKey("k1"), t0); err != nil {
		t.Fatal(err)
	}
	first := t0.Add(time.Hour)
	got, err := s.RevokeKey("k1", first)
	wantNoErr(t, err)
	if got != s.Keys["k1"] || got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
		t.Fatalf("after revoke: %+v", got)
	}
	again, err := s.RevokeKey("k1", first.Add(24*time.Hour))
	wantNoErr(t, err)
	if !again.RevokedAt.Equal(first) {
		t.Fatalf("second revoke moved RevokedAt to %v, want %v", again.RevokedAt, first)
	}
	if again.StatusAt(first) != "revoked" {
		t.Errorf("status = %s", again.StatusAt(first))
	}
	_, err = s.RevokeKey("nope", first)
	wantErr(t, err, errs.KindNotFound, "api_key_not_found", "")
}

func TestRotationOf(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	old := newKey("old")
	old.Type = tenant.KeyProductOrg
	old.PayloadTemplate = map[string]any{"product_org_id": "org.id"}
	old.SecretSealed = "s"
	if _, err := s.AddKey(old, t0); err != nil {
		t.Fatal(err)
	}
	src, err := s.RotationOf("old", t0.Add(time.Hour))
	wantNoErr(t, err)
	if src.ID != "old" || src.Type != tenant.KeyProductOrg || src.PayloadTemplate["product_org_id"] != "org.id" {
		t.Fatalf("RotationOf = %+v", src)
	}
	// The caller creates the new key from the old settings; both are valid.
	nk := newKey("new")
	nk.Type, nk.PayloadTemplate, nk.RotatedFrom = src.Type, src.PayloadTemplate, src.ID
	if _, err := s.AddKey(nk, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(2 * time.Hour)
	wantNoErr(t, s.Keys["old"].Usable(at))
	wantNoErr(t, s.Keys["new"].Usable(at))
	if s.Keys["old"].RevokedAt != nil {
		t.Fatal("RotationOf revoked the old key")
	}
	if _, err := s.RevokeKey("old", at); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.Keys["old"].Usable(at), errs.KindUnauthenticated, "key_revoked", "")
	wantNoErr(t, s.Keys["new"].Usable(at))

	_, err = s.RotationOf("old", at)
	wantErr(t, err, errs.KindConflict, "key_revoked", "")
	_, err = s.RotationOf("nope", at)
	wantErr(t, err, errs.KindNotFound, "api_key_not_found", "")
}

func TestKeyByToken(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.AddKey(newKey(id), t0); err != nil {
			t.Fatal(err)
		}
	}
	if k := s.KeyByToken("tid_b"); k == nil || k.ID != "b" {
		t.Fatalf("KeyByToken(tid_b) = %+v", k)
	}
	if _, err := s.RevokeKey("c", t0); err != nil {
		t.Fatal(err)
	}
	if k := s.KeyByToken("tid_c"); k == nil || k.ID != "c" {
		t.Fatalf("revoked key must still be found (so the caller can answer key_revoked): %+v", k)
	}
	if k := s.KeyByToken("tid_zzz"); k != nil {
		t.Fatalf("KeyByToken(unknown) = %+v", k)
	}
}

func TestSortedKeys(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	adds := []struct {
		id string
		at time.Time
	}{
		{"a", t0},
		{"b", t0.Add(2 * time.Hour)},
		{"c", t0.Add(time.Hour)},
		{"d", t0.Add(2 * time.Hour)}, // tie with b: higher id first
		{"e", t0.Add(-time.Hour)},
	}
	for _, a := range adds {
		if _, err := s.AddKey(newKey(a.id), a.at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RevokeKey("c", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := []string{"d", "b", "c", "a", "e"}
	for range 20 {
		var got []string
		for _, k := range s.SortedKeys() {
			got = append(got, k.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("SortedKeys = %v, want %v", got, want)
		}
	}
	if got := newState(t, nil).SortedKeys(); got == nil || len(got) != 0 {
		t.Errorf("empty SortedKeys = %#v, want empty non-nil", got)
	}
}

func TestKeyStatusAndUsable(t *testing.T) {
	t.Parallel()
	exp := t0.Add(24 * time.Hour)
	revoked := t0.Add(time.Hour)
	tests := []struct {
		name    string
		expires *time.Time
		revoked *time.Time
		now     time.Time
		status  string
		code    string
	}{
		{"no expiry", nil, nil, t0.Add(10000 * time.Hour), "active", ""},
		{"before expiry", &exp, nil, exp.Add(-time.Nanosecond), "active", ""},
		{"exactly at expiry", &exp, nil, exp, "expired", "key_expired"},
		{"after expiry", &exp, nil, exp.Add(time.Hour), "expired", "key_expired"},
		{"revoked, no expiry", nil, &revoked, revoked, "revoked", "key_revoked"},
		{"revoked before expiry", &exp, &revoked, t0.Add(2 * time.Hour), "revoked", "key_revoked"},
		{"revoked and expired: revoked wins", &exp, &revoked, exp.Add(time.Hour), "revoked", "key_revoked"},
		// RevokedAt is the moment of revocation; the key is dead regardless of now.
		{"revoked, asked before revocation time", nil, &revoked, t0, "revoked", "key_revoked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := newKey("k")
			k.CreatedAt = t0
			k.ExpiresAt, k.RevokedAt = tc.expires, tc.revoked
			if got := k.StatusAt(tc.now); got != tc.status {
				t.Fatalf("StatusAt = %q, want %q", got, tc.status)
			}
			err := k.Usable(tc.now)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Usable = %v, want nil", err)
				}
				return
			}
			wantErr(t, err, errs.KindUnauthenticated, tc.code, "")
		})
	}
}
