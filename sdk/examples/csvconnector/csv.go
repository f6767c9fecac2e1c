package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/sdk/connector"
)

// CSV is the connector. It holds no tenant state: the directory comes with
// every call in Config.Options["directory"].
type CSV struct {
	log hclog.Logger
}

// files maps each record kind this connector reads to its file and object.
var files = map[connector.Kind]struct{ file, object string }{
	connector.KindAccounts: {"accounts.csv", "Account"},
	connector.KindContacts: {"contacts.csv", "Contact"},
}

// SetLogger receives the plugin logger (JSON on stderr, re-emitted by the host).
func (c *CSV) SetLogger(l hclog.Logger) { c.log = l }

func (c *CSV) Describe(context.Context) (connector.Info, error) {
	return connector.Info{
		Name:         "csv",
		Version:      "1.0.0",
		Description:  "Accounts and contacts from CSV files; a simple JSON webhook",
		Capabilities: []connector.Capability{connector.CapRead, connector.CapTranslate, connector.CapMetadata},
		Kinds:        []connector.Kind{connector.KindAccounts, connector.KindContacts},
	}, nil
}

func dir(cfg connector.Config) (string, error) {
	d := cfg.Option("directory", "")
	if d == "" {
		return "", connector.InvalidConfig("options.directory", "directory is required")
	}
	if !filepath.IsAbs(d) {
		return "", connector.InvalidConfig("options.directory", "directory %q must be an absolute path", d)
	}
	return d, nil
}

// Configure validates without touching the files (no I/O, as the contract asks).
func (c *CSV) Configure(_ context.Context, cfg connector.Config) error {
	_, err := dir(cfg)
	return err
}

// Check is "test connection": the files must exist and parse.
func (c *CSV) Check(_ context.Context, cfg connector.Config) error {
	d, err := dir(cfg)
	if err != nil {
		return err
	}
	for _, f := range files {
		if _, err := load(filepath.Join(d, f.file)); err != nil {
			return err
		}
	}
	return nil
}

type table struct {
	header []string
	rows   [][]string
}

func load(path string) (table, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return table{}, connector.InvalidConfig("options.directory", "%s does not exist", path)
	}
	if err != nil {
		return table{}, connector.Retryable("open %s: %v", path, err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return table{}, connector.Permanent("parse %s: %v", path, err)
	}
	if len(rows) == 0 {
		return table{}, connector.Permanent("%s has no header row", path)
	}
	return table{header: rows[0], rows: rows[1:]}, nil
}

// Read serves rows after the cursor. The cursor is the row offset: the files
// are append-only exports in this example; a real CRM connector would use
// the vendor's modification timestamp plus id as its cursor.
func (c *CSV) Read(ctx context.Context, cfg connector.Config, req connector.ReadRequest, emit func(connector.Record) error) (connector.ReadResult, error) {
	spec, ok := files[req.Kind]
	if !ok {
		return connector.ReadResult{}, connector.Unsupported("csv connector does not read %s", req.Kind)
	}
	d, err := dir(cfg)
	if err != nil {
		return connector.ReadResult{}, err
	}
	t, err := load(filepath.Join(d, spec.file))
	if err != nil {
		return connector.ReadResult{}, err
	}
	start := 0
	if req.Cursor != "" {
		if start, err = strconv.Atoi(req.Cursor); err != nil || start < 0 {
			return connector.ReadResult{}, connector.Permanent("invalid cursor %q", req.Cursor)
		}
	}
	i := start
	for ; i < len(t.rows) && (req.Limit <= 0 || i-start < req.Limit); i++ {
		if err := ctx.Err(); err != nil {
			return connector.ReadResult{}, err
		}
		fields := map[string]string{}
		for j, h := range t.header {
			if j < len(t.rows[i]) {
				fields[h] = t.rows[i][j]
			}
		}
		raw, _ := json.Marshal(fields)
		if err := emit(connector.Record{ID: fields["id"], Kind: req.Kind, Fields: raw}); err != nil {
			return connector.ReadResult{}, err
		}
	}
	if c.log != nil {
		c.log.Debug("read", "tenant", cfg.Tenant, "kind", req.Kind, "from", start, "to", i)
	}
	return connector.ReadResult{NextCursor: strconv.Itoa(i), More: i < len(t.rows)}, nil
}

// webhook is the example's inbound format: one object or an array of them.
type webhook struct {
	Event      string          `json:"event"`
	Email      string          `json:"email"`
	UserID     string          `json:"user_id"`
	AccountID  string          `json:"account_id"`
	ID         string          `json:"id"`
	Timestamp  string          `json:"timestamp"`
	Properties json.RawMessage `json:"properties"`
}

func (c *CSV) Translate(_ context.Context, _ connector.Config, req connector.TranslateRequest) ([]connector.Signal, error) {
	var items []json.RawMessage
	trimmed := strings.TrimSpace(string(req.Payload))
	if strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal(req.Payload, &items); err != nil {
			return nil, connector.Permanent("payload is not a JSON array: %v", err)
		}
	} else {
		items = []json.RawMessage{req.Payload}
	}
	out := make([]connector.Signal, 0, len(items))
	for i, raw := range items {
		var w webhook
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, connector.Permanent("item %d is not a JSON object: %v", i, err)
		}
		s := connector.Signal{
			Source: "csv", Type: "track", Event: w.Event, Email: strings.ToLower(strings.TrimSpace(w.Email)),
			UserID: w.UserID, GroupID: w.AccountID, MessageID: w.ID, Properties: w.Properties, Payload: raw,
		}
		if s.MessageID == "" {
			s.MessageID = req.Headers.Get("X-Webhook-Id")
		}
		if w.Timestamp != "" {
			ts, err := time.Parse(time.RFC3339, w.Timestamp)
			if err != nil {
				return nil, connector.Permanent("item %d: timestamp %q is not RFC 3339", i, w.Timestamp)
			}
			s.Timestamp = ts.UTC()
		}
		out = append(out, s)
	}
	return out, nil
}

// Metadata describes each file's columns. Types come from column names; a
// column called "segment" is a picklist of the values present.
func (c *CSV) Metadata(_ context.Context, cfg connector.Config, req connector.MetadataRequest) (connector.Metadata, error) {
	d, err := dir(cfg)
	if err != nil {
		return connector.Metadata{}, err
	}
	want := map[string]bool{}
	for _, o := range req.Objects {
		want[o] = true
	}
	kinds := []connector.Kind{connector.KindAccounts, connector.KindContacts}
	var md connector.Metadata
	for _, k := range kinds {
		spec := files[k]
		if len(want) > 0 && !want[spec.object] {
			continue
		}
		t, err := load(filepath.Join(d, spec.file))
		if err != nil {
			return connector.Metadata{}, err
		}
		obj := connector.Object{Name: spec.object, Label: spec.object, Kind: k}
		for j, h := range t.header {
			f := connector.Field{Name: h, Label: strings.ReplaceAll(h, "_", " "), Type: connector.FieldString}
			switch {
			case h == "id":
				f.Type = connector.FieldID
			case h == "email":
				f.Type, f.Required = connector.FieldEmail, true
			case h == "employees":
				f.Type = connector.FieldInteger
			case h == "account_id":
				f.Type, f.ReferenceTo = connector.FieldReference, "Account"
			case h == "segment":
				f.Type = connector.FieldPicklist
				seen := map[string]bool{}
				for _, r := range t.rows {
					if j < len(r) && r[j] != "" && !seen[r[j]] {
						seen[r[j]] = true
						f.Picklist = append(f.Picklist, connector.PicklistValue{Value: r[j], Label: r[j]})
					}
				}
				sort.Slice(f.Picklist, func(a, b int) bool { return f.Picklist[a].Value < f.Picklist[b].Value })
			}
			obj.Fields = append(obj.Fields, f)
		}
		md.Objects = append(md.Objects, obj)
	}
	if len(want) > 0 && len(md.Objects) == 0 {
		return md, connector.NotFound("no object among %v", req.Objects)
	}
	return md, nil
}
