package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

func joinSizes() string {
	var s []string
	for _, x := range client.Sizes {
		s = append(s, string(x))
	}
	return strings.Join(s, "|")
}

func joinIndustries() string {
	var s []string
	for _, x := range client.Industries {
		s = append(s, string(x))
	}
	return strings.Join(s, "|")
}

func orgTable(w io.Writer, o *client.Organization) {
	settings := "{}"
	if len(o.Settings) > 0 {
		if b, err := json.Marshal(o.Settings); err == nil {
			settings = string(b)
		}
	}
	kv(w, "ID", o.ID, "NAME", o.Name, "SUBDOMAIN", o.Subdomain, "SIZE", string(o.Size), "INDUSTRY", string(o.Industry),
		"PLAN", o.Plan, "SETTINGS", settings, "CREATED", fmtTime(o.CreatedAt), "UPDATED", fmtTime(o.UpdatedAt),
		"YOUR ROLE", orDash(string(o.Role)))
}

// ---- org ------------------------------------------------------------------------------------

func newOrgCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "org",
		Short: "Manage organizations",
	}

	var cr client.CreateOrgRequest
	var crSize, crIndustry string
	create := &cobra.Command{
		Use:   "create --name NAME --size SIZE --industry INDUSTRY [--subdomain SUB] [--owner-email EMAIL]",
		Short: "Create an organization (you become its Owner; the operator names --owner-email)",
		Args:  cobra.NoArgs,
		RunE: run(func(c *cli, _ []string) error {
			cr.Size, cr.Industry = client.Size(crSize), client.Industry(crIndustry)
			o, err := c.client.CreateOrg(c.cmd.Context(), cr)
			if err != nil {
				return err
			}
			return c.emit(o, func(w io.Writer) { orgTable(w, o) })
		}),
	}
	create.Flags().StringVar(&cr.Name, "name", "", "organization name (required)")
	create.Flags().StringVar(&cr.Subdomain, "subdomain", "", "subdomain, 3-20 of [a-z0-9-] (default: suggested from the name)")
	create.Flags().StringVar(&crSize, "size", "", "head count: "+joinSizes()+" (required)")
	create.Flags().StringVar(&crIndustry, "industry", "", joinIndustries()+" (required)")
	create.Flags().StringVar(&cr.Plan, "plan", "", "plan (default: the server's default plan)")
	create.Flags().StringVar(&cr.OwnerEmail, "owner-email", "", "the user who becomes Owner (required with the operator token)")
	for _, f := range []string{"name", "size", "industry"} {
		_ = create.MarkFlagRequired(f)
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List your organizations (all of them, for the operator)",
		Args:  cobra.NoArgs,
		RunE: run(func(c *cli, _ []string) error {
			items, err := c.client.AllOrgs(c.cmd.Context())
			if err != nil {
				return err
			}
			return c.emit(nonNil(items), func(w io.Writer) {
				row(w, "ID", "NAME", "SUBDOMAIN", "SIZE", "INDUSTRY", "PLAN", "ROLE")
				for _, o := range items {
					row(w, o.ID, o.Name, o.Subdomain, string(o.Size), string(o.Industry), o.Plan, orDash(string(o.Role)))
				}
			})
		}),
	}

	get := &cobra.Command{
		Use:   "get ORG",
		Short: "Show an organization",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			o, err := c.client.GetOrg(c.cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.emit(o, func(w io.Writer) { orgTable(w, o) })
		}),
	}

	var upName, upSize, upIndustry string
	update := &cobra.Command{
		Use:   "update ORG [--name NAME] [--size SIZE] [--industry INDUSTRY]",
		Short: "Change an organization's name, size or industry (Admin)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			var req client.UpdateOrgRequest
			fl := c.cmd.Flags()
			if fl.Changed("name") {
				req.Name = &upName
			}
			if fl.Changed("size") {
				s := client.Size(upSize)
				req.Size = &s
			}
			if fl.Changed("industry") {
				i := client.Industry(upIndustry)
				req.Industry = &i
			}
			if req == (client.UpdateOrgRequest{}) {
				return fmt.Errorf("nothing to update: pass --name, --size or --industry")
			}
			o, err := c.client.UpdateOrg(c.cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return c.emit(o, func(w io.Writer) { orgTable(w, o) })
		}),
	}
	update.Flags().StringVar(&upName, "name", "", "new name")
	update.Flags().StringVar(&upSize, "size", "", "new head count: "+joinSizes())
	update.Flags().StringVar(&upIndustry, "industry", "", "new industry: "+joinIndustries())

	var yes bool
	del := &cobra.Command{
		Use:   "delete ORG --yes",
		Short: "Delete an organization and everything in it (Owner)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			if !yes {
				return fmt.Errorf("deleting organization %s removes all its data: pass --yes to confirm", args[0])
			}
			if err := c.client.DeleteOrg(c.cmd.Context(), args[0]); err != nil {
				return err
			}
			return c.done("Deleted organization "+args[0]+".", map[string]any{"id": args[0]})
		}),
	}
	del.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")

	var chkName, chkSub string
	check := &cobra.Command{
		Use:   "check-subdomain (--subdomain SUB | --name NAME)",
		Short: "Say whether a subdomain is free and suggest one from a name",
		Args:  cobra.NoArgs,
		RunE: run(func(c *cli, _ []string) error {
			res, err := c.client.CheckSubdomain(c.cmd.Context(), chkSub, chkName)
			if err != nil {
				return err
			}
			return c.emit(res, func(w io.Writer) {
				kv(w, "SUBDOMAIN", orDash(res.Subdomain), "AVAILABLE", yesNo(res.Available))
				if res.Reason != "" {
					kv(w, "REASON", res.Reason)
				}
				kv(w, "SUGGESTION", orDash(res.Suggestion))
			})
		}),
	}
	check.Flags().StringVar(&chkSub, "subdomain", "", "the subdomain to check")
	check.Flags().StringVar(&chkName, "name", "", "an organization name to derive a suggestion from")
	check.MarkFlagsOneRequired("subdomain", "name")

	cmd.AddCommand(create, list, get, update, del, check)
	return cmd
}

// ---- member ---------------------------------------------------------------------------------

func memberTable(w io.Writer, m *client.Member) {
	kv(w, "USER ID", m.UserID, "EMAIL", m.Email, "NAME", m.Name, "ROLE", string(m.Role), "JOINED", fmtTime(m.JoinedAt))
}

func newMemberCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member",
		Short: "Manage an organization's members and roles",
	}

	list := &cobra.Command{
		Use:   "list ORG",
		Short: "List members",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			items, err := c.client.AllMembers(c.cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.emit(nonNil(items), func(w io.Writer) {
				row(w, "USER ID", "EMAIL", "NAME", "ROLE", "JOINED")
				for _, m := range items {
					row(w, m.UserID, m.Email, m.Name, string(m.Role), fmtTime(m.JoinedAt))
				}
			})
		}),
	}

	role := &cobra.Command{
		Use:   "role ORG USER ROLE",
		Short: "Change a member's role to admin, editor or viewer (Admin)",
		Args:  cobra.ExactArgs(3),
		RunE: run(func(c *cli, args []string) error {
			m, err := c.client.UpdateMemberRole(c.cmd.Context(), args[0], args[1], client.Role(args[2]))
			if err != nil {
				return err
			}
			return c.emit(m, func(w io.Writer) { memberTable(w, m) })
		}),
	}

	remove := &cobra.Command{
		Use:   "remove ORG USER",
		Short: "Remove a member (Admin; any member may remove themselves, except the Owner)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			if err := c.client.RemoveMember(c.cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			return c.done(fmt.Sprintf("Removed %s from %s.", args[1], args[0]), map[string]any{"org": args[0], "user_id": args[1]})
		}),
	}

	transfer := &cobra.Command{
		Use:   "transfer ORG USER",
		Short: "Make USER the Owner; the previous Owner is removed (Owner)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			res, err := c.client.TransferOwnership(c.cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return c.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s <%s> is now the Owner of %s; the previous Owner %s was removed.\n",
					res.Owner.Name, res.Owner.Email, args[0], orDash(res.RemovedUserID))
			})
		}),
	}

	cmd.AddCommand(list, role, remove, transfer)
	return cmd
}

// ---- invite ---------------------------------------------------------------------------------

func invitationTable(w io.Writer, inv *client.Invitation) {
	kv(w, "ID", inv.ID, "EMAIL", inv.Email, "ROLE", string(inv.Role), "STATUS", string(inv.Status),
		"INVITED BY", orDash(inv.InvitedBy), "CREATED", fmtTime(inv.CreatedAt), "EXPIRES", fmtTime(inv.ExpiresAt))
}

func (c *cli) emitInvitationCreated(res *client.InvitationCreated) error {
	err := c.emit(res, func(w io.Writer) {
		invitationTable(w, &res.Invitation)
		kv(w, "TOKEN", res.Token)
	})
	c.showOnce("Invitation token (TrailSpark sends no email: pass it to " + res.Invitation.Email + ")")
	return err
}

func newInviteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invite",
		Short: "Manage invitations to an organization",
	}

	var email, role string
	create := &cobra.Command{
		Use:   "create ORG --email EMAIL [--role viewer]",
		Short: "Invite someone as admin, editor or viewer (Admin); prints the token to pass on",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			req := client.CreateInvitationRequest{Email: email}
			if c.cmd.Flags().Changed("role") {
				req.Role = client.Role(role)
			}
			res, err := c.client.CreateInvitation(c.cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return c.emitInvitationCreated(res)
		}),
	}
	create.Flags().StringVar(&email, "email", "", "the invitee's email address (required)")
	create.Flags().StringVar(&role, "role", "viewer", "admin, editor or viewer")
	_ = create.MarkFlagRequired("email")

	list := &cobra.Command{
		Use:   "list ORG",
		Short: "List pending invitations (Admin)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			items, err := c.client.AllInvitations(c.cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.emit(nonNil(items), func(w io.Writer) {
				row(w, "ID", "EMAIL", "ROLE", "STATUS", "INVITED BY", "CREATED", "EXPIRES")
				for _, i := range items {
					row(w, i.ID, i.Email, string(i.Role), string(i.Status), orDash(i.InvitedBy), fmtTime(i.CreatedAt), fmtTime(i.ExpiresAt))
				}
			})
		}),
	}

	resend := &cobra.Command{
		Use:   "resend ORG ID",
		Short: "Issue a new token and reset the 7-day expiry (Admin); the old token stops working",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			res, err := c.client.ResendInvitation(c.cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return c.emitInvitationCreated(res)
		}),
	}

	cancel := &cobra.Command{
		Use:   "cancel ORG ID",
		Short: "Cancel an invitation at once (Admin)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			inv, err := c.client.CancelInvitation(c.cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return c.emit(inv, func(w io.Writer) { invitationTable(w, inv) })
		}),
	}

	accept := &cobra.Command{
		Use:   "accept ORG TOKEN",
		Short: "Accept an invitation sent to your email (TOKEN - reads it from stdin)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			token := args[1]
			if token == "-" {
				t, err := readLine(bufio.NewReader(c.cmd.InOrStdin()))
				if err != nil {
					return fmt.Errorf("reading the invitation token from stdin: %w", err)
				}
				token = strings.TrimSpace(t)
			}
			res, err := c.client.AcceptInvitation(c.cmd.Context(), args[0], token)
			if err != nil {
				return err
			}
			return c.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "Joined %s (%s) as %s.\n", res.Organization.Name, res.Organization.ID, res.Role)
			})
		}),
	}

	cmd.AddCommand(create, list, resend, cancel, accept)
	return cmd
}
