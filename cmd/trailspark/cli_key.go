package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

func keyTable(w io.Writer, k *client.APIKey) {
	tmpl := "-"
	if len(k.PayloadTemplate) > 0 {
		if b, err := json.Marshal(k.PayloadTemplate); err == nil {
			tmpl = string(b)
		}
	}
	kv(w, "ID", k.ID, "NAME", k.Name, "TYPE", string(k.Type), "PREFIX", k.Prefix, "STATUS", string(k.Status),
		"HAS SECRET", yesNo(k.HasSecret), "TEMPLATE", tmpl, "CREATED", fmtTime(k.CreatedAt),
		"EXPIRES", fmtTimePtr(k.ExpiresAt), "LAST USED", fmtTimePtr(k.LastUsedAt), "REVOKED", fmtTimePtr(k.RevokedAt),
		"ROTATED FROM", fmtStrPtr(k.RotatedFrom))
}

func (c *cli) emitKeyCreated(res *client.APIKeyCreated) error {
	err := c.emit(res, func(w io.Writer) {
		keyTable(w, &res.APIKey)
		kv(w, "KEY", res.Key)
		if res.Secret != "" {
			kv(w, "SECRET", res.Secret)
		}
	})
	what := "API key"
	if res.Secret != "" {
		what = "API key and secret"
	}
	c.showOnce(what)
	return err
}

// readTemplate loads a payload template: a JSON object from a file ("-" for stdin).
func readTemplate(c *cli, path string) (map[string]any, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(c.cmd.InOrStdin(), 1<<20+1))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the template: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tmpl map[string]any
	if err := dec.Decode(&tmpl); err != nil || tmpl == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		return nil, fmt.Errorf("the template %s must hold a JSON object: %v", path, err)
	}
	return tmpl, nil
}

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage an organization's ingestion API keys (sk_…)",
	}

	var (
		name, keyType, expiresIn, expiresAt, template string
		withSecret                                    bool
	)
	create := &cobra.Command{
		Use:   "create ORG --name NAME [--type signal_staging|product_org] [--expires-in D | --expires-at RFC3339] [--with-secret] [--template FILE.json]",
		Short: "Create an API key (Editor); the key and secret are shown once",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			req := client.CreateAPIKeyRequest{Name: name, Type: client.KeyType(keyType), WithSecret: withSecret}
			switch {
			case expiresIn != "":
				d, err := parseExpiresIn(expiresIn)
				if err != nil {
					return err
				}
				at := time.Now().UTC().Add(d).Truncate(time.Second)
				req.ExpiresAt = &at
			case expiresAt != "":
				at, err := time.Parse(time.RFC3339, expiresAt)
				if err != nil {
					return fmt.Errorf("--expires-at %q: want an RFC 3339 time such as 2030-01-31T00:00:00Z", expiresAt)
				}
				at = at.UTC()
				req.ExpiresAt = &at
			}
			if template != "" {
				tmpl, err := readTemplate(c, template)
				if err != nil {
					return err
				}
				req.PayloadTemplate = tmpl
			}
			res, err := c.client.CreateAPIKey(c.cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return c.emitKeyCreated(res)
		}),
	}
	fl := create.Flags()
	fl.StringVar(&name, "name", "", "a name to recognize the key by (required)")
	fl.StringVar(&keyType, "type", "", "signal_staging or product_org (default: signal_staging)")
	fl.StringVar(&expiresIn, "expires-in", "", "lifetime, e.g. 720h or 90d (default: no expiry)")
	fl.StringVar(&expiresAt, "expires-at", "", "expiry as an RFC 3339 time")
	fl.BoolVar(&withSecret, "with-secret", false, "also create a secret the sender must present")
	fl.StringVar(&template, "template", "", "payload template: a JSON file holding an object (- for stdin)")
	_ = create.MarkFlagRequired("name")
	create.MarkFlagsMutuallyExclusive("expires-in", "expires-at")

	list := &cobra.Command{
		Use:   "list ORG",
		Short: "List API keys, masked (Editor)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			items, err := c.client.AllAPIKeys(c.cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.emit(nonNil(items), func(w io.Writer) {
				row(w, "ID", "NAME", "TYPE", "PREFIX", "STATUS", "SECRET", "CREATED", "EXPIRES", "LAST USED")
				for _, k := range items {
					row(w, k.ID, k.Name, string(k.Type), k.Prefix, string(k.Status), yesNo(k.HasSecret),
						fmtTime(k.CreatedAt), fmtTimePtr(k.ExpiresAt), fmtTimePtr(k.LastUsedAt))
				}
			})
		}),
	}

	get := &cobra.Command{
		Use:   "get ORG ID",
		Short: "Show an API key, masked (Editor)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			k, err := c.client.GetAPIKey(c.cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return c.emit(k, func(w io.Writer) { keyTable(w, k) })
		}),
	}

	revoke := &cobra.Command{
		Use:   "revoke ORG ID",
		Short: "Revoke an API key at once (Editor)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			k, err := c.client.RevokeAPIKey(c.cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return c.emit(k, func(w io.Writer) { keyTable(w, k) })
		}),
	}

	rotate := &cobra.Command{
		Use:   "rotate ORG ID",
		Short: "Create a replacement key (Editor); the old one stays valid until revoked",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			res, err := c.client.RotateAPIKey(c.cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if err := c.emitKeyCreated(res); err != nil {
				return err
			}
			fmt.Fprintf(c.errOut, "The old key %s stays valid until you revoke it: trailspark key revoke %s %s\n", args[1], args[0], args[1])
			return nil
		}),
	}

	cmd.AddCommand(create, list, get, revoke, rotate)
	return cmd
}
