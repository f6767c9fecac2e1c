package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

// Options tells the suite how to exercise a connector.
type Options struct {
	// Config is a working tenant config (for example pointing at a local
	// fake server or fixture directory).
	Config connector.Config
	// InvalidConfigs must each make Configure fail with ErrInvalidConfig.
	InvalidConfigs []connector.Config
	// SkipCheck skips Check(Config) (when it needs a service the test lacks).
	SkipCheck bool
	// Translate fixtures (CapTranslate). At least one is required when the
	// connector declares translate.
	Translate []TranslateCase
	// ReadPageSize is the Limit used for pagination checks (default 2).
	ReadPageSize int
	// ReadMinRecords is the least number of records Config must yield per
	// kind; the pagination checks need more than ReadPageSize (default 3).
	ReadMinRecords int
	// Write cases (CapWrite). At least one is required when declared.
	Write []WriteCase
	// MetadataObjects must appear in Metadata (CapMetadata).
	MetadataObjects []string
	// OAuth (CapOAuth): request for AuthURL; the URL must contain State and
	// CodeChallenge.
	OAuth *connector.AuthURLRequest
	// CallTimeout bounds every call (default 10s).
	CallTimeout time.Duration
}

// TranslateCase is one inbound payload and what it must become.
type TranslateCase struct {
	Name    string
	Payload []byte
	Headers http.Header
	// Want is compared field by field; JSON fields (Properties, Traits) are
	// compared semantically and only when set in Want; Payload is not compared.
	Want []connector.Signal
	// WantErr, when not KindUnknown, is the error kind expected instead.
	WantErr connector.ErrorKind
}

// WriteCase is one batch and the expected outcome per record.
type WriteCase struct {
	Name    string
	Request connector.WriteRequest
	// Want has one entry per update: KindUnknown for success, else the
	// error kind of that record's result.
	Want []connector.ErrorKind
}

// Run launches binary and runs the conformance suite against it.
func Run(t *testing.T, binary string, opts Options) {
	t.Helper()
	if opts.ReadPageSize <= 0 {
		opts.ReadPageSize = 2
	}
	if opts.ReadMinRecords <= 0 {
		opts.ReadMinRecords = opts.ReadPageSize + 1
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	p := Launch(t, binary)
	s := &suite{p: p, opts: opts, binary: binary}

	t.Run("handshake", s.handshake)
	t.Run("describe", s.describe)
	if t.Failed() {
		return // everything else depends on a valid description
	}
	t.Run("unsupported", s.unsupported)
	t.Run("configure", s.configure)
	if s.info.Has(connector.CapTranslate) {
		t.Run("translate", s.translate)
	}
	if s.info.Has(connector.CapRead) {
		t.Run("read", s.read)
	}
	if s.info.Has(connector.CapWrite) {
		t.Run("write", s.write)
	}
	if s.info.Has(connector.CapMetadata) {
		t.Run("metadata", s.metadata)
	}
	if s.info.Has(connector.CapOAuth) && opts.OAuth != nil {
		t.Run("oauth", s.oauth)
	}
	t.Run("cancellation", s.cancellation)
	t.Run("concurrency", s.concurrency)
	t.Run("still healthy", func(t *testing.T) {
		if err := p.Client.Ping(ctxT(t, opts.CallTimeout)); err != nil {
			t.Fatalf("plugin unhealthy after the suite: %v", err)
		}
		if p.Raw.Exited() {
			t.Fatal("plugin exited during the suite")
		}
	})
}

type suite struct {
	p      *Plugin
	opts   Options
	binary string
	info   connector.Info
}

func (s *suite) ctx(t *testing.T) context.Context { return ctxT(t, s.opts.CallTimeout) }

func (s *suite) handshake(t *testing.T) {
	if got := s.p.Client.Protocol(); got != connector.ProtocolVersion {
		t.Errorf("negotiated protocol %d, want %d", got, connector.ProtocolVersion)
	}
	if err := s.p.Client.Ping(s.ctx(t)); err != nil {
		t.Errorf("health ping: %v", err)
	}
	t.Logf("launch + handshake: %s (pid %d)", s.p.Launch, s.p.Pid)
}

func (s *suite) describe(t *testing.T) {
	info, proto, sdkVersion, err := s.p.Client.DescribeFull(s.ctx(t))
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if err := info.Validate(); err != nil {
		t.Fatalf("Describe returned an invalid Info: %v", err)
	}
	if proto != connector.ProtocolVersion || sdkVersion == "" {
		t.Errorf("Describe: protocol %d sdk %q; the SDK sets these, was the response built by hand?", proto, sdkVersion)
	}
	if base := filepath.Base(s.binary); strings.HasPrefix(base, "trailspark-connector-") && base != info.BinaryName() {
		t.Errorf("binary %s describes itself as %q: the host refuses a name mismatch", base, info.Name)
	}
	if info.Has(connector.CapRead) && len(info.Kinds) == 0 {
		t.Errorf("declares %q but lists no record kinds", connector.CapRead)
	}
	again, err := s.p.Client.Describe(s.ctx(t))
	if err != nil || !reflect.DeepEqual(again, info) {
		t.Errorf("Describe is not stable: %+v then %+v (%v)", info, again, err)
	}
	s.info = info
}

// unsupported: every capability not declared must answer ErrUnsupported,
// never succeed, hang or crash.
func (s *suite) unsupported(t *testing.T) {
	c, cfg := s.p.Client, s.opts.Config
	calls := map[connector.Capability]func(context.Context) error{
		connector.CapRead: func(ctx context.Context) error {
			_, err := c.Read(ctx, cfg, connector.ReadRequest{Kind: connector.KindAccounts}, func(connector.Record) error { return nil })
			return err
		},
		connector.CapWrite: func(ctx context.Context) error {
			_, err := c.Write(ctx, cfg, connector.WriteRequest{Object: "x", Updates: []connector.ScoreUpdate{{RecordID: "1"}}})
			return err
		},
		connector.CapTranslate: func(ctx context.Context) error {
			_, err := c.Translate(ctx, cfg, connector.TranslateRequest{Payload: []byte(`{}`)})
			return err
		},
		connector.CapMetadata: func(ctx context.Context) error {
			_, err := c.Metadata(ctx, cfg, connector.MetadataRequest{})
			return err
		},
		connector.CapOAuth: func(ctx context.Context) error {
			_, err := c.AuthURL(ctx, cfg, connector.AuthURLRequest{RedirectURI: "http://localhost/cb", State: "s"})
			if !errors.Is(err, connector.ErrUnsupported) {
				return err
			}
			if _, err := c.ExchangeCode(ctx, cfg, connector.ExchangeCodeRequest{Code: "c"}); !errors.Is(err, connector.ErrUnsupported) {
				return fmt.Errorf("ExchangeCode: %w", err)
			}
			_, err = c.Refresh(ctx, cfg, "r")
			return err
		},
	}
	for _, capb := range []connector.Capability{connector.CapRead, connector.CapWrite, connector.CapTranslate, connector.CapMetadata, connector.CapOAuth} {
		if s.info.Has(capb) {
			continue
		}
		t.Run(string(capb), func(t *testing.T) {
			err := calls[capb](s.ctx(t))
			if !errors.Is(err, connector.ErrUnsupported) {
				t.Fatalf("undeclared capability %s: got %v, want ErrUnsupported", capb, err)
			}
		})
	}
	if s.info.Has(connector.CapRead) {
		t.Run("undeclared kind", func(t *testing.T) {
			declared := map[connector.Kind]bool{}
			for _, k := range s.info.Kinds {
				declared[k] = true
			}
			for _, k := range []connector.Kind{connector.KindAccounts, connector.KindContacts, connector.KindLeads, connector.KindOpportunities, connector.KindActivities} {
				if declared[k] {
					continue
				}
				_, err := c.Read(s.ctx(t), cfg, connector.ReadRequest{Kind: k}, func(connector.Record) error { return nil })
				if !errors.Is(err, connector.ErrUnsupported) {
					t.Errorf("Read(%s) of an undeclared kind: got %v, want ErrUnsupported", k, err)
				}
			}
		})
	}
}

func (s *suite) configure(t *testing.T) {
	if err := s.p.Client.Configure(s.ctx(t), s.opts.Config); err != nil {
		t.Fatalf("Configure(valid config): %v", err)
	}
	if !s.opts.SkipCheck {
		if err := s.p.Client.Check(s.ctx(t), s.opts.Config); err != nil {
			t.Errorf("Check(valid config): %v", err)
		}
	}
	for i, bad := range s.opts.InvalidConfigs {
		err := s.p.Client.Configure(s.ctx(t), bad)
		if !errors.Is(err, connector.ErrInvalidConfig) {
			t.Errorf("Configure(InvalidConfigs[%d]): got %v, want ErrInvalidConfig", i, err)
		}
	}
}

func (s *suite) translate(t *testing.T) {
	if len(s.opts.Translate) == 0 {
		t.Fatal("connector declares translate but Options.Translate has no fixtures")
	}
	for _, tc := range s.opts.Translate {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := s.p.Client.Translate(s.ctx(t), s.opts.Config, connector.TranslateRequest{Payload: tc.Payload, Headers: tc.Headers, ContentType: "application/json"})
			if tc.WantErr != connector.KindUnknown {
				if connector.KindOf(err) != tc.WantErr {
					t.Fatalf("got (%d signals, %v), want a %s error", len(got), err, tc.WantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			if len(got) != len(tc.Want) {
				t.Fatalf("got %d signals, want %d: %+v", len(got), len(tc.Want), got)
			}
			for i := range got {
				if diff := diffSignal(got[i], tc.Want[i]); diff != "" {
					t.Errorf("signal %d: %s", i, diff)
				}
			}
		})
	}
	t.Run("garbage is permanent", func(t *testing.T) {
		// Retrying a payload that cannot be parsed will never succeed.
		_, err := s.p.Client.Translate(s.ctx(t), s.opts.Config, connector.TranslateRequest{Payload: []byte("\x00not json{"), ContentType: "application/json"})
		if err == nil || connector.IsRetryable(err) {
			t.Fatalf("unparseable payload: got %v, want a non-retryable error", err)
		}
	})
	t.Run("payload above gRPC's 4 MiB default", func(t *testing.T) {
		// The plugin's server must raise its receive limit (sdk.Serve does).
		big := []byte(`{"type":"track","event":"x","properties":{"blob":"` + strings.Repeat("a", 5<<20) + `"}}`)
		_, err := s.p.Client.Translate(s.ctx(t), s.opts.Config, connector.TranslateRequest{Payload: big, ContentType: "application/json"})
		if err != nil && strings.Contains(err.Error(), "larger than max") {
			t.Fatalf("5 MiB payload hit a gRPC message limit: %v", err)
		}
	})
}

func diffSignal(got, want connector.Signal) string {
	var d []string
	cmp := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	cmp("Source", got.Source, want.Source)
	cmp("Type", got.Type, want.Type)
	cmp("Event", got.Event, want.Event)
	cmp("Email", got.Email, want.Email)
	cmp("UserID", got.UserID, want.UserID)
	cmp("AnonymousID", got.AnonymousID, want.AnonymousID)
	cmp("GroupID", got.GroupID, want.GroupID)
	cmp("MessageID", got.MessageID, want.MessageID)
	cmp("Route", string(got.Route), string(want.Route))
	if !got.Timestamp.Equal(want.Timestamp) {
		d = append(d, fmt.Sprintf("Timestamp = %s, want %s", got.Timestamp, want.Timestamp))
	}
	if !want.SentAt.IsZero() && !got.SentAt.Equal(want.SentAt) {
		d = append(d, fmt.Sprintf("SentAt = %s, want %s", got.SentAt, want.SentAt))
	}
	for _, f := range []struct {
		name      string
		got, want json.RawMessage
	}{{"Properties", got.Properties, want.Properties}, {"Traits", got.Traits, want.Traits}} {
		if f.want != nil && !JSONEqual(f.got, f.want) {
			d = append(d, fmt.Sprintf("%s = %s, want %s", f.name, f.got, f.want))
		}
	}
	if len(got.Payload) > 0 && !json.Valid(got.Payload) {
		d = append(d, "Payload is not valid JSON")
	}
	return strings.Join(d, "; ")
}

// JSONEqual compares two JSON documents semantically.
func JSONEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// readAll reads kind from cursor to the end in calls of limit records.
func (s *suite) readAll(t *testing.T, kind connector.Kind, cursor string, limit int) (recs []connector.Record, calls int, firstCursor string) {
	t.Helper()
	for calls = 1; ; calls++ {
		if calls > 10000 {
			t.Fatalf("Read(%s) did not finish after 10000 calls: More stays true", kind)
		}
		var page []connector.Record
		res, err := s.p.Client.Read(s.ctx(t), s.opts.Config, connector.ReadRequest{Kind: kind, Cursor: cursor, Limit: limit},
			func(r connector.Record) error { page = append(page, r); return nil })
		if err != nil {
			t.Fatalf("Read(%s, cursor %q, limit %d): %v", kind, cursor, limit, err)
		}
		if limit > 0 && len(page) > limit {
			t.Fatalf("Read(%s, limit %d) returned %d records", kind, limit, len(page))
		}
		if res.More && len(page) == 0 {
			t.Fatalf("Read(%s) returned More with no records: it would loop forever", kind)
		}
		if len(page) > 0 && res.NextCursor == "" {
			t.Fatalf("Read(%s) returned records but an empty NextCursor", kind)
		}
		recs = append(recs, page...)
		if calls == 1 {
			firstCursor = res.NextCursor
		}
		if !res.More {
			return recs, calls, firstCursor
		}
		cursor = res.NextCursor
	}
}

func ids(rs []connector.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func (s *suite) read(t *testing.T) {
	for _, kind := range s.info.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			all, _, _ := s.readAll(t, kind, "", 0)
			if len(all) < s.opts.ReadMinRecords {
				t.Fatalf("Read(%s) yielded %d records, the suite needs at least %d (Options.ReadMinRecords)", kind, len(all), s.opts.ReadMinRecords)
			}
			seen := map[string]bool{}
			for _, r := range all {
				if r.ID == "" || seen[r.ID] {
					t.Fatalf("record id %q empty or repeated", r.ID)
				}
				seen[r.ID] = true
				if r.Kind != kind {
					t.Errorf("record %s has kind %q, want %q", r.ID, r.Kind, kind)
				}
				var obj map[string]any
				if err := json.Unmarshal(r.Fields, &obj); err != nil {
					t.Errorf("record %s: Fields is not a JSON object: %v", r.ID, err)
				}
			}

			paged, calls, first := s.readAll(t, kind, "", s.opts.ReadPageSize)
			if !reflect.DeepEqual(ids(paged), ids(all)) {
				t.Fatalf("paging by %d gave %v, reading at once gave %v", s.opts.ReadPageSize, ids(paged), ids(all))
			}
			if want := (len(all) + s.opts.ReadPageSize - 1) / s.opts.ReadPageSize; calls < want {
				t.Errorf("paging by %d took %d calls for %d records; Limit is not honoured", s.opts.ReadPageSize, calls, len(all))
			}

			// Resume from the cursor of the first page, as after a restart.
			rest, _, _ := s.readAll(t, kind, first, s.opts.ReadPageSize)
			if !reflect.DeepEqual(ids(rest), ids(all[s.opts.ReadPageSize:])) {
				t.Fatalf("resuming from cursor %q gave %v, want %v", first, ids(rest), ids(all[s.opts.ReadPageSize:]))
			}

			// The host stopping the stream early must surface its own error
			// and leave the plugin usable.
			stop := errors.New("enough")
			_, err := s.p.Client.Read(s.ctx(t), s.opts.Config, connector.ReadRequest{Kind: kind}, func(connector.Record) error { return stop })
			if !errors.Is(err, stop) {
				t.Fatalf("emit error: got %v, want the emit error back", err)
			}
		})
	}
}

func (s *suite) write(t *testing.T) {
	if len(s.opts.Write) == 0 {
		t.Fatal("connector declares write but Options.Write has no cases")
	}
	for _, tc := range s.opts.Write {
		t.Run(tc.Name, func(t *testing.T) {
			res, err := s.p.Client.Write(s.ctx(t), s.opts.Config, tc.Request)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if len(res) != len(tc.Request.Updates) {
				t.Fatalf("%d results for %d updates", len(res), len(tc.Request.Updates))
			}
			for i, r := range res {
				if r.Index != i {
					t.Errorf("result %d has Index %d", i, r.Index)
				}
				var got connector.ErrorKind
				if r.Err != nil {
					got = r.Err.Kind
				}
				if i < len(tc.Want) && got != tc.Want[i] {
					t.Errorf("result %d: kind %s (%v), want %s", i, got, r.Err, tc.Want[i])
				}
			}
		})
	}
}

func (s *suite) metadata(t *testing.T) {
	md, err := s.p.Client.Metadata(s.ctx(t), s.opts.Config, connector.MetadataRequest{})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(md.Objects) == 0 {
		t.Fatal("Metadata returned no objects")
	}
	names := map[string]bool{}
	for _, o := range md.Objects {
		if o.Name == "" || names[o.Name] {
			t.Errorf("object name %q empty or repeated", o.Name)
		}
		names[o.Name] = true
		if o.Kind != "" && !o.Kind.Valid() {
			t.Errorf("object %s: unknown kind %q", o.Name, o.Kind)
		}
		if len(o.Fields) == 0 {
			t.Errorf("object %s has no fields", o.Name)
		}
		fields := map[string]bool{}
		for _, f := range o.Fields {
			where := o.Name + "." + f.Name
			if f.Name == "" || fields[f.Name] {
				t.Errorf("field %q empty or repeated", where)
			}
			fields[f.Name] = true
			if !f.Type.Valid() {
				t.Errorf("field %s: unknown type %q", where, f.Type)
			}
			if (f.Type == connector.FieldPicklist) != (len(f.Picklist) > 0) {
				t.Errorf("field %s: type %s with %d picklist values; picklists need values and only picklists have them", where, f.Type, len(f.Picklist))
			}
			if f.Type == connector.FieldReference && f.ReferenceTo == "" {
				t.Errorf("field %s: reference without ReferenceTo", where)
			}
		}
	}
	for _, want := range s.opts.MetadataObjects {
		if !names[want] {
			t.Errorf("Metadata lacks object %q", want)
		}
	}
	first := md.Objects[0].Name
	only, err := s.p.Client.Metadata(s.ctx(t), s.opts.Config, connector.MetadataRequest{Objects: []string{first}})
	if err != nil {
		t.Fatalf("Metadata(%s): %v", first, err)
	}
	if len(only.Objects) != 1 || only.Objects[0].Name != first {
		t.Errorf("Metadata filtered to %q returned %d objects", first, len(only.Objects))
	}
}

func (s *suite) oauth(t *testing.T) {
	u, err := s.p.Client.AuthURL(s.ctx(t), s.opts.Config, *s.opts.OAuth)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	for _, part := range []string{s.opts.OAuth.State, s.opts.OAuth.CodeChallenge} {
		if part != "" && !strings.Contains(u, part) {
			t.Errorf("AuthURL %s lacks %q", u, part)
		}
	}
}

// cancellation: a caller that gives up gets its answer at once, and the
// plugin survives callers giving up.
func (s *suite) cancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	begin := time.Now()
	_, err := s.p.Client.Describe(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Describe with a cancelled context: got %v, want context.Canceled", err)
	}
	tctx, tcancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer tcancel()
	<-tctx.Done()
	_, err = s.p.Client.Describe(tctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !connector.IsRetryable(err) {
		t.Errorf("Describe past its deadline: got %v, want a retryable error wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("cancelled calls took %s", d)
	}
	if s.info.Has(connector.CapRead) {
		rctx, rcancel := context.WithCancel(context.Background())
		n := 0
		_, err := s.p.Client.Read(rctx, s.opts.Config, connector.ReadRequest{Kind: s.info.Kinds[0]}, func(connector.Record) error {
			n++
			rcancel() // the host gives up mid-stream
			return nil
		})
		rcancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Read cancelled mid-stream: got %v, want nil or context.Canceled", err)
		}
	}
	if _, err := s.p.Client.Describe(s.ctx(t)); err != nil {
		t.Fatalf("plugin unusable after cancelled calls: %v", err)
	}
}

// concurrency: one process serves many tenants at once; config travels per call.
func (s *suite) concurrency(t *testing.T) {
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := s.opts.Config
			cfg.Tenant = fmt.Sprintf("tenant-%d", i)
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.CallTimeout)
			defer cancel()
			if err := s.p.Client.Configure(ctx, cfg); err != nil {
				errs <- fmt.Errorf("tenant %d Configure: %w", i, err)
				return
			}
			if s.info.Has(connector.CapTranslate) && len(s.opts.Translate) > 0 && s.opts.Translate[0].WantErr == connector.KindUnknown {
				got, err := s.p.Client.Translate(ctx, cfg, connector.TranslateRequest{Payload: s.opts.Translate[0].Payload, Headers: s.opts.Translate[0].Headers})
				if err != nil || len(got) != len(s.opts.Translate[0].Want) {
					errs <- fmt.Errorf("tenant %d Translate: %d signals, %v", i, len(got), err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
