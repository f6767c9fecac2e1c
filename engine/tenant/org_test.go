package tenant_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
)

func TestValidateSubdomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		code string // "" = valid
	}{
		{"empty", "", "required"},
		{"len 1", "a", "too_short"},
		{"len 2", "ab", "too_short"},
		{"len 3", "abc", ""},
		{"len 3 digits", "123", ""},
		{"len 20", strings.Repeat("a", 20), ""},
		{"len 20 mixed", "abcdefghij-123456789", ""},
		{"len 21", strings.Repeat("a", 21), "too_long"},
		{"very long", strings.Repeat("a", 200), "too_long"},
		{"inner dash", "acme-corp", ""},
		{"double inner dash", "acme--corp", ""},
		{"uppercase", "Acme", "invalid_subdomain"},
		{"all uppercase", "ACME", "invalid_subdomain"},
		{"underscore", "acme_corp", "invalid_subdomain"},
		{"dot", "acme.corp", "invalid_subdomain"},
		{"space", "acme corp", "invalid_subdomain"},
		{"leading dash", "-acme", "invalid_subdomain"},
		{"trailing dash", "acme-", "invalid_subdomain"},
		{"only dashes", "---", "invalid_subdomain"},
		{"leading and trailing dash", "-ac-", "invalid_subdomain"},
		{"trailing newline", "acme\n", "invalid_subdomain"},
		{"leading space", " acme", "invalid_subdomain"},
		{"unicode letters", "ünïcode", "invalid_subdomain"},
		{"unicode 2 runes 4 bytes", "üü", "invalid_subdomain"},
		{"cyrillic lookalike", "аcme", "invalid_subdomain"}, // first rune is U+0430
		{"unicode 20 runes", strings.Repeat("é", 20), "too_long"},
		{"emoji", "ac🚀me", "invalid_subdomain"},
		{"nul byte", "ac\x00me", "invalid_subdomain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := tenant.ValidateSubdomain(tc.in)
			if tc.code == "" {
				if e != nil {
					t.Fatalf("ValidateSubdomain(%q) = %v, want valid", tc.in, e)
				}
				return
			}
			wantSubErr(t, e, errs.KindInvalid, tc.code, "subdomain")
		})
	}
}

func TestSuggestSubdomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"Acme Corp", "acme-corp"},
		{"Ünïcödé GmbH", "unicode-gmbh"},
		{"  --X--  ", "x00"},
		{"X", "x00"},
		{"7", "700"},
		{"AB", "ab0"},
		{"3M", "3m0"},
		{"", "000"},
		{"   ", "000"},
		{"!!!", "000"},
		{"日本語", "000"},
		{"Société Générale", "societe-generale"},
		{"Foo & Bar, Inc.", "foo-bar-inc"},
		{"O'Reilly Media", "o-reilly-media"},
		{"ﬁnance ﬁrst", "finance-first"}, // ligature decomposed by NFKD
		{"ＡＣＭＥ", "acme"},                 // fullwidth folded by NFKD
		{"Straße AG", "stra-e-ag"},       // ß has no decomposition
		{"Très Long Company Name International Holdings", "tres-long-company-na"},
		{"abcdefghijklmnopqrs tuv", "abcdefghijklmnopqrs"}, // cut lands on '-', trimmed
		{strings.Repeat("x", 100), strings.Repeat("x", 20)},
		{"a--b", "a-b"},
		{"\tTab\nNew  Line\r\n", "tab-new-line"},
		{"\xff\xfeacme", "acme"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			t.Parallel()
			got := tenant.SuggestSubdomain(tc.in)
			if got != tc.want {
				t.Errorf("SuggestSubdomain(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if e := tenant.ValidateSubdomain(got); e != nil {
				t.Errorf("suggestion %q for %q is invalid: %v", got, tc.in, e)
			}
		})
	}
}

func FuzzSuggestSubdomain(f *testing.F) {
	for _, s := range []string{
		"", "a", "Acme Corp", "Ünïcödé GmbH", "  --X--  ", "日本語", "ﬁ", "½",
		strings.Repeat("ab-", 30), strings.Repeat("é", 50), "\xff", "a\u0301", "-a-",
		"abcdefghijklmnopqrs tuv", "Ⅻ Roman", "ǅ", "İstanbul",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := tenant.SuggestSubdomain(name)
		if e := tenant.ValidateSubdomain(got); e != nil {
			t.Fatalf("SuggestSubdomain(%q) = %q, invalid: %v", name, got, e)
		}
		if again := tenant.SuggestSubdomain(name); again != got {
			t.Fatalf("SuggestSubdomain(%q) not deterministic: %q then %q", name, got, again)
		}
		for _, n := range []int{1, 2, 9, 10, 99, 100, 12345} {
			if w := tenant.WithSuffix(got, n); tenant.ValidateSubdomain(w) != nil {
				t.Fatalf("WithSuffix(%q, %d) = %q, invalid", got, n, w)
			}
		}
	})
}

func TestWithSuffix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base string
		n    int
		want string
	}{
		{"acme", 2, "acme-2"},
		{"acme", 0, "acme-0"},
		{"acme", 10, "acme-10"},
		{"acme-corp", 123, "acme-corp-123"},
		{"abc", 1, "abc-1"},
		{strings.Repeat("a", 18), 2, strings.Repeat("a", 18) + "-2"},   // exactly 20
		{strings.Repeat("a", 19), 2, strings.Repeat("a", 18) + "-2"},   // 21 → cut
		{strings.Repeat("a", 20), 2, strings.Repeat("a", 18) + "-2"},   // full base cut
		{strings.Repeat("a", 20), 99, strings.Repeat("a", 17) + "-99"}, // 2-digit suffix
		{strings.Repeat("a", 20), 12345, strings.Repeat("a", 14) + "-12345"},
		{"abcdefghijklmnopq-rs", 2, "abcdefghijklmnopq-2"},  // cut lands on '-', trimmed
		{"abcdefghijklmnop-qrs", 10, "abcdefghijklmnop-10"}, // cut lands on '-', trimmed
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.base, tc.n), func(t *testing.T) {
			t.Parallel()
			got := tenant.WithSuffix(tc.base, tc.n)
			if got != tc.want {
				t.Errorf("WithSuffix(%q, %d) = %q, want %q", tc.base, tc.n, got, tc.want)
			}
			if len(got) > 20 {
				t.Errorf("WithSuffix(%q, %d) = %q is %d chars, want ≤ 20", tc.base, tc.n, got, len(got))
			}
			if e := tenant.ValidateSubdomain(got); e != nil {
				t.Errorf("WithSuffix(%q, %d) = %q is invalid: %v", tc.base, tc.n, got, e)
			}
		})
	}
	t.Run("every suffix 1..2000 of long bases stays valid", func(t *testing.T) {
		t.Parallel()
		bases := []string{
			"abc", "acme-corp", strings.Repeat("z", 20), "abcdefghijklmnopqrs",
			"a-b-c-d-e-f-g-h-i-j", "abcdefghijklmnopq-rs", "abcdefghijklmno-pqrs",
		}
		for _, b := range bases {
			for n := 1; n <= 2000; n++ {
				got := tenant.WithSuffix(b, n)
				if e := tenant.ValidateSubdomain(got); e != nil {
					t.Fatalf("WithSuffix(%q, %d) = %q is invalid: %v", b, n, got, e)
				}
				if !strings.HasSuffix(got, fmt.Sprintf("-%d", n)) {
					t.Fatalf("WithSuffix(%q, %d) = %q lost the suffix", b, n, got)
				}
			}
		}
	})
}

func TestWithSuffixNegative(t *testing.T) {
	t.Parallel()
	got := tenant.WithSuffix("acme", -1)
	if e := tenant.ValidateSubdomain(got); e != nil {
		t.Fatalf("WithSuffix(\"acme\", -1) = %q is invalid: %v", got, e)
	}
}

func TestNewOrgInputNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   tenant.NewOrgInput
		want tenant.NewOrgInput
	}{
		{
			name: "trims and suggests subdomain and default plan",
			in:   tenant.NewOrgInput{Name: "  Acme Corp  ", Size: "1-10", Industry: "Finance"},
			want: tenant.NewOrgInput{Name: "Acme Corp", Subdomain: "acme-corp", Size: "1-10", Industry: "Finance", Plan: "free"},
		},
		{
			name: "explicit subdomain lowercased and trimmed",
			in:   tenant.NewOrgInput{Name: "Acme", Subdomain: "  ACME-EU ", Plan: "pro"},
			want: tenant.NewOrgInput{Name: "Acme", Subdomain: "acme-eu", Plan: "pro"},
		},
		{
			name: "whitespace subdomain suggested from name",
			in:   tenant.NewOrgInput{Name: "Ünïcödé GmbH", Subdomain: "   "},
			want: tenant.NewOrgInput{Name: "Ünïcödé GmbH", Subdomain: "unicode-gmbh", Plan: "free"},
		},
		{
			name: "empty name leaves subdomain empty",
			in:   tenant.NewOrgInput{Name: "   "},
			want: tenant.NewOrgInput{Plan: "free"},
		},
		{
			name: "size trimmed and industry canonicalised",
			in:   tenant.NewOrgInput{Name: "X", Size: " 1-10 ", Industry: "technology", Plan: "  pro "},
			want: tenant.NewOrgInput{Name: "X", Subdomain: "x00", Size: "1-10", Industry: "Technology", Plan: "pro"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			in.Normalize()
			if in != tc.want {
				t.Fatalf("Normalize() = %+v, want %+v", in, tc.want)
			}
		})
	}
}

func validOrgInput() tenant.NewOrgInput {
	return tenant.NewOrgInput{Name: "Acme Corp", Subdomain: "acme", Size: "51-200", Industry: "Technology", Plan: "free"}
}

func TestNewOrgInputValidateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*tenant.NewOrgInput)
		field  string
		code   string
	}{
		{"name empty", func(in *tenant.NewOrgInput) { in.Name = "" }, "name", "required"},
		{"name blank", func(in *tenant.NewOrgInput) { in.Name = " \t " }, "name", "required"},
		{"name 101 runes", func(in *tenant.NewOrgInput) { in.Name = strings.Repeat("é", 101) }, "name", "too_long"},
		{"name invalid utf8", func(in *tenant.NewOrgInput) { in.Name = "Acme \xff" }, "name", "invalid_format"},
		{"subdomain empty", func(in *tenant.NewOrgInput) { in.Subdomain = "" }, "subdomain", "required"},
		{"subdomain short", func(in *tenant.NewOrgInput) { in.Subdomain = "ab" }, "subdomain", "too_short"},
		{"subdomain long", func(in *tenant.NewOrgInput) { in.Subdomain = strings.Repeat("a", 21) }, "subdomain", "too_long"},
		{"subdomain underscore", func(in *tenant.NewOrgInput) { in.Subdomain = "acme_corp" }, "subdomain", "invalid_subdomain"},
		{"subdomain leading dash", func(in *tenant.NewOrgInput) { in.Subdomain = "-acme" }, "subdomain", "invalid_subdomain"},
		{"subdomain trailing dash", func(in *tenant.NewOrgInput) { in.Subdomain = "acme-" }, "subdomain", "invalid_subdomain"},
		{"subdomain uppercase (not normalized)", func(in *tenant.NewOrgInput) { in.Subdomain = "ACME" }, "subdomain", "invalid_subdomain"},
		{"size empty", func(in *tenant.NewOrgInput) { in.Size = "" }, "size", "required"},
		{"size unknown", func(in *tenant.NewOrgInput) { in.Size = "10-50" }, "size", "invalid_enum"},
		{"size padded", func(in *tenant.NewOrgInput) { in.Size = " 1-10" }, "size", "invalid_enum"},
		{"size 500+", func(in *tenant.NewOrgInput) { in.Size = "500+" }, "size", "invalid_enum"},
		{"industry empty", func(in *tenant.NewOrgInput) { in.Industry = "" }, "industry", "required"},
		{"industry wrong case", func(in *tenant.NewOrgInput) { in.Industry = "technology" }, "industry", "invalid_enum"},
		{"industry unknown", func(in *tenant.NewOrgInput) { in.Industry = "Mining" }, "industry", "invalid_enum"},
		{"plan empty", func(in *tenant.NewOrgInput) { in.Plan = "" }, "plan", "required"},
		{"plan blank", func(in *tenant.NewOrgInput) { in.Plan = "   " }, "plan", "required"},
		{"plan too long", func(in *tenant.NewOrgInput) { in.Plan = strings.Repeat("p", 101) }, "plan", "too_long"},
		{"first invalid field wins: name", func(in *tenant.NewOrgInput) {
			*in = tenant.NewOrgInput{}
		}, "name", "required"},
		{"first invalid field wins: subdomain before size", func(in *tenant.NewOrgInput) {
			in.Subdomain, in.Size, in.Industry = "x", "", ""
		}, "subdomain", "too_short"},
		{"first invalid field wins: size before industry", func(in *tenant.NewOrgInput) {
			in.Size, in.Industry = "huge", "nope"
		}, "size", "invalid_enum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := validOrgInput()
			tc.mutate(&in)
			wantErr(t, in.Validate(), errs.KindInvalid, tc.code, tc.field)
		})
	}
}

func TestNewOrgInputNormalizeThenValidateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    tenant.NewOrgInput
		field string
		code  string
	}{
		{"blank name", tenant.NewOrgInput{Name: "   ", Size: "1-10", Industry: "Other"}, "name", "required"},
		{"unknown industry", tenant.NewOrgInput{Name: "Acme", Size: "1-10", Industry: "Mining"}, "industry", "invalid_enum"},
		{"missing size", tenant.NewOrgInput{Name: "Acme", Industry: "Other"}, "size", "required"},
		{"bad explicit subdomain", tenant.NewOrgInput{Name: "Acme", Subdomain: "a_b_c", Size: "1-10", Industry: "Other"}, "subdomain", "invalid_subdomain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			in.Normalize()
			wantErr(t, in.Validate(), errs.KindInvalid, tc.code, tc.field)
		})
	}
}

func TestNewOrgInputValidateValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   tenant.NewOrgInput
	}{
		{"all fields", validOrgInput()},
		{"name 100 multibyte runes", func() tenant.NewOrgInput {
			in := validOrgInput()
			in.Name = strings.Repeat("é", 100)
			return in
		}()},
		{"normalized from raw input", func() tenant.NewOrgInput {
			in := tenant.NewOrgInput{Name: "  Ünïcödé GmbH ", Size: "501+", Industry: "Manufacturing"}
			in.Normalize()
			return in
		}()},
	}
	for _, size := range tenant.Sizes {
		for _, ind := range tenant.Industries {
			in := validOrgInput()
			in.Size, in.Industry = size, ind
			tests = append(tests, struct {
				name string
				in   tenant.NewOrgInput
			}{size + "/" + ind, in})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			wantNoErr(t, in.Validate())
		})
	}
}

func TestSpecEnums(t *testing.T) {
	t.Parallel()
	if want := []string{"1-10", "11-50", "51-200", "201-500", "501+"}; !reflect.DeepEqual(tenant.Sizes, want) {
		t.Errorf("Sizes = %v, want %v", tenant.Sizes, want)
	}
	if want := []string{"Technology", "Finance", "Healthcare", "Education", "Retail", "Manufacturing", "Other"}; !reflect.DeepEqual(tenant.Industries, want) {
		t.Errorf("Industries = %v, want %v", tenant.Industries, want)
	}
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, code string
	}{
		{"ok", "Acme", ""},
		{"100 runes", strings.Repeat("é", 100), ""},
		{"100 runes plus padding", "  " + strings.Repeat("a", 100) + "  ", ""},
		{"101 runes", strings.Repeat("a", 101), "too_long"},
		{"empty", "", "required"},
		{"blank", " \n\t", "required"},
		{"invalid utf8", "\xc3\x28", "invalid_format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := tenant.ValidateName("label", tc.in)
			if tc.code == "" {
				if e != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tc.in, e)
				}
				return
			}
			wantSubErr(t, e, errs.KindInvalid, tc.code, "label")
		})
	}
}

func TestOrgPatchApply(t *testing.T) {
	t.Parallel()
	later := t0.Add(36 * time.Hour)
	tests := []struct {
		name  string
		patch tenant.OrgPatch
		want  func(o *tenant.Org)
	}{
		{"empty patch only touches UpdatedAt", tenant.OrgPatch{}, func(o *tenant.Org) {}},
		{"name trimmed", tenant.OrgPatch{Name: ptr("  Acme Inc  ")}, func(o *tenant.Org) { o.Name = "Acme Inc" }},
		{"name 100 runes", tenant.OrgPatch{Name: ptr(strings.Repeat("ü", 100))}, func(o *tenant.Org) { o.Name = strings.Repeat("ü", 100) }},
		{"size", tenant.OrgPatch{Size: ptr("501+")}, func(o *tenant.Org) { o.Size = "501+" }},
		{"industry", tenant.OrgPatch{Industry: ptr("Healthcare")}, func(o *tenant.Org) { o.Industry = "Healthcare" }},
		{"all fields", tenant.OrgPatch{Name: ptr("New"), Size: ptr("1-10"), Industry: ptr("Other")}, func(o *tenant.Org) {
			o.Name, o.Size, o.Industry = "New", "1-10", "Other"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := testOrg()
			want := testOrg()
			tc.want(&want)
			want.UpdatedAt = later
			wantNoErr(t, tc.patch.Apply(&o, later))
			if !reflect.DeepEqual(o, want) {
				t.Fatalf("after Apply: %+v\nwant %+v", o, want)
			}
			if o.Subdomain != "acme-corp" || o.ID != "org_1" || !o.CreatedAt.Equal(t0) || o.Plan != "free" {
				t.Fatalf("Apply changed an immutable field: %+v", o)
			}
		})
	}

	bad := []struct {
		name  string
		patch tenant.OrgPatch
		field string
		code  string
	}{
		{"blank name", tenant.OrgPatch{Name: ptr("   ")}, "name", "required"},
		{"long name", tenant.OrgPatch{Name: ptr(strings.Repeat("a", 101))}, "name", "too_long"},
		{"empty size", tenant.OrgPatch{Size: ptr("")}, "size", "required"},
		{"bad size", tenant.OrgPatch{Size: ptr("1-9")}, "size", "invalid_enum"},
		{"bad industry", tenant.OrgPatch{Industry: ptr("banking")}, "industry", "invalid_enum"},
		{"valid name then bad size", tenant.OrgPatch{Name: ptr("Changed"), Size: ptr("lots")}, "size", "invalid_enum"},
		{"valid name and size then bad industry", tenant.OrgPatch{Name: ptr("Changed"), Size: ptr("1-10"), Industry: ptr("")}, "industry", "required"},
	}
	for _, tc := range bad {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			t.Parallel()
			o := testOrg()
			wantErr(t, tc.patch.Apply(&o, later), errs.KindInvalid, tc.code, tc.field)
			if !reflect.DeepEqual(o, testOrg()) {
				t.Fatalf("invalid patch changed the org: %+v", o)
			}
		})
	}
}

func TestSuggestSubdomainLength(t *testing.T) {
	t.Parallel()
	for n := 0; n <= 60; n++ {
		name := strings.Repeat("Ab ", n)
		got := tenant.SuggestSubdomain(name)
		if l := utf8.RuneCountInString(got); l < 3 || l > 20 {
			t.Errorf("SuggestSubdomain(%q) = %q has length %d", name, got, l)
		}
		if strings.HasSuffix(got, "-") || strings.HasPrefix(got, "-") {
			t.Errorf("SuggestSubdomain(%q) = %q has an edge dash", name, got)
		}
	}
}
