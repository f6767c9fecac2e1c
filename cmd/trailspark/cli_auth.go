package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

func newRegisterCmd() *cobra.Command {
	var email, name string
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "register --email EMAIL --name NAME",
		Short: "Create a user account (the password is read from stdin or prompted for)",
		Args:  cobra.NoArgs,
		RunE: runAnon(func(c *cli, _ []string) error {
			pw, err := c.readPassword(pwStdin, true)
			if err != nil {
				return err
			}
			u, err := c.client.Register(c.cmd.Context(), client.RegisterRequest{Email: email, Password: pw, Name: name})
			if err != nil {
				return err
			}
			if !c.json {
				fmt.Fprintf(c.errOut, "Registered. Sign in with: trailspark login --email %s\n", u.Email)
			}
			return c.emit(u, func(w io.Writer) { userTable(w, u) })
		}),
	}
	cmd.Flags().StringVar(&email, "email", "", "email address (required)")
	cmd.Flags().StringVar(&name, "name", "", "display name (required)")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	_ = cmd.MarkFlagRequired("email")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newLoginCmd() *cobra.Command {
	var email string
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "login --email EMAIL",
		Short: "Sign in and save the session token in the CLI config file",
		Long: "Sign in with email and password (read from stdin with --password-stdin, else prompted for).\n" +
			"The server and session token are saved to $XDG_CONFIG_HOME/trailspark/cli.json\n" +
			"(or ~/.config/trailspark/cli.json) with mode 0600 and used by later commands.",
		Args: cobra.NoArgs,
		RunE: runAnon(func(c *cli, _ []string) error {
			if c.cfgPath == "" {
				return fmt.Errorf("cannot find where to save the session: set XDG_CONFIG_HOME or HOME")
			}
			pw, err := c.readPassword(pwStdin, false)
			if err != nil {
				return err
			}
			// Log in without sending any stored credential.
			resp, err := c.client.WithToken("").Login(c.cmd.Context(), client.LoginRequest{Email: email, Password: pw})
			if err != nil {
				return err
			}
			exp := resp.ExpiresAt
			cfg := &cliConfig{Server: c.server, Token: resp.Token, Email: resp.User.Email, ExpiresAt: &exp}
			if err := saveConfig(c.cfgPath, cfg); err != nil {
				return err
			}
			out := struct {
				User      client.User `json:"user"`
				Server    string      `json:"server"`
				ExpiresAt time.Time   `json:"expires_at"`
				Config    string      `json:"config"`
			}{resp.User, c.server, resp.ExpiresAt, c.cfgPath}
			return c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "Signed in as %s <%s> on %s.\n", resp.User.Name, resp.User.Email, c.server)
				fmt.Fprintf(w, "The session expires at %s; saved to %s.\n", fmtTime(resp.ExpiresAt), c.cfgPath)
			})
		}),
	}
	cmd.Flags().StringVar(&email, "email", "", "email address (required)")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the session token and forget it",
		Args:  cobra.NoArgs,
		RunE: run(func(c *cli, _ []string) error {
			err := c.client.Logout(c.cmd.Context())
			// An expired or already revoked session is as good as logged out.
			if err != nil && client.StatusOf(err) != 401 {
				return err
			}
			forgot := false
			if c.cfg.Token != "" && c.cfg.Token == c.token {
				c.cfg.Token, c.cfg.ExpiresAt = "", nil
				if err := saveConfig(c.cfgPath, c.cfg); err != nil {
					return err
				}
				forgot = true
			}
			msg := "Signed out."
			if forgot {
				msg = "Signed out; the saved session was removed from " + c.cfgPath + "."
			}
			return c.done(msg, map[string]any{"server": c.server})
		}),
	}
}

func newWhoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the caller and their organizations",
		Args:  cobra.NoArgs,
		RunE: run(func(c *cli, _ []string) error {
			me, err := c.client.Me(c.cmd.Context())
			if err != nil {
				return err
			}
			return c.emit(me, func(w io.Writer) {
				who := "operator"
				if me.User != nil {
					who = fmt.Sprintf("%s <%s> (%s)", me.User.Name, me.User.Email, me.User.ID)
				}
				kv(w, "USER", who, "OPERATOR", yesNo(me.Operator), "SERVER", c.server, "CREDENTIAL", "from "+c.tokenSource)
				if len(me.Memberships) == 0 {
					return
				}
				fmt.Fprintln(w)
				row(w, "ORG ID", "NAME", "SUBDOMAIN", "ROLE")
				for _, m := range me.Memberships {
					row(w, m.OrgID, m.OrgName, m.Subdomain, string(m.Role))
				}
			})
		}),
	}
}

func userTable(w io.Writer, u *client.User) {
	kv(w, "ID", u.ID, "EMAIL", u.Email, "NAME", u.Name, "CREATED", fmtTime(u.CreatedAt))
}

// ---- personal access tokens -----------------------------------------------------------------

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage your personal access tokens (tsp_…) for scripts",
	}

	var name, expiresIn string
	create := &cobra.Command{
		Use:   "create --name NAME [--expires-in 720h]",
		Short: "Create a personal access token (shown once)",
		Args:  cobra.NoArgs,
		RunE: run(func(c *cli, _ []string) error {
			req := client.CreateTokenRequest{Name: name}
			if expiresIn != "" {
				d, err := parseExpiresIn(expiresIn)
				if err != nil {
					return err
				}
				at := time.Now().UTC().Add(d).Truncate(time.Second)
				req.ExpiresAt = &at
			}
			res, err := c.client.CreateToken(c.cmd.Context(), req)
			if err != nil {
				return err
			}
			err = c.emit(res, func(w io.Writer) {
				p := res.PersonalAccessToken
				kv(w, "ID", p.ID, "NAME", p.Name, "PREFIX", p.Prefix, "CREATED", fmtTime(p.CreatedAt),
					"EXPIRES", fmtTimePtr(p.ExpiresAt), "TOKEN", res.Token)
			})
			c.showOnce("Personal access token")
			return err
		}),
	}
	create.Flags().StringVar(&name, "name", "", "a name to recognize the token by (required)")
	create.Flags().StringVar(&expiresIn, "expires-in", "", "lifetime, e.g. 720h or 30d (default: no expiry)")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List your personal access tokens",
		Args:  cobra.NoArgs,
		RunE: run(func(c *cli, _ []string) error {
			items, err := c.client.AllTokens(c.cmd.Context())
			if err != nil {
				return err
			}
			return c.emit(nonNil(items), func(w io.Writer) {
				row(w, "ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED")
				for _, p := range items {
					row(w, p.ID, p.Name, p.Prefix, fmtTime(p.CreatedAt), fmtTimePtr(p.ExpiresAt), fmtTimePtr(p.LastUsedAt))
				}
			})
		}),
	}

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke one of your personal access tokens",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			if err := c.client.RevokeToken(c.cmd.Context(), args[0]); err != nil {
				return err
			}
			return c.done("Revoked token "+args[0]+".", map[string]any{"id": args[0]})
		}),
	}

	cmd.AddCommand(create, list, revoke)
	return cmd
}

// nonNil makes an empty list print as [] rather than null in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
