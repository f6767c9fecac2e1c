package main

// Connector plugins of the node that answers (operator token only).

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

// checksumPrefix is the length of a checksum shown in tables.
const checksumPrefix = 12

func shortSum(s string) string {
	if len(s) > checksumPrefix {
		return s[:checksumPrefix]
	}
	return orDash(s)
}

// pluginChecksum shows the binary's checksum, and the approved one when they differ.
func pluginChecksum(p *client.Plugin) string {
	s := shortSum(p.Checksum)
	if p.PinnedChecksum != "" && p.PinnedChecksum != p.Checksum {
		s += " (approved " + shortSum(p.PinnedChecksum) + ")"
	}
	return s
}

func pluginPid(p *client.Plugin) string {
	if p.Pid == 0 {
		return "-"
	}
	return strconv.Itoa(p.Pid)
}

func pluginCaps(p *client.Plugin) string { return orDash(strings.Join(p.Capabilities, ",")) }

func pluginTable(w io.Writer, p *client.Plugin) {
	kv(w, "NAME", p.Name, "VERSION", orDash(p.Version), "DESCRIPTION", orDash(p.Description), "STATE", p.State,
		"PID", pluginPid(p), "RESTARTS", strconv.Itoa(p.Restarts), "CAPABILITIES", pluginCaps(p),
		"CHECKSUM", orDash(p.Checksum))
	if p.PinnedChecksum != "" {
		kv(w, "APPROVED CHECKSUM", p.PinnedChecksum)
	}
	kv(w, "LAST ERROR", orDash(p.LastError), "NEXT RESTART", fmtTimePtr(p.NextRestart))
}

func newPluginsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "plugins",
		Aliases: []string{"plugin"},
		Short:   "Manage the connector plugins of the node that answers (operator token)",
		Long: `Manage the connector plugins of the node that answers (operator token only).
Plugin processes are per node: behind a load balancer, each call may reach
another node. See docs/plugins.md for states and checksum approval.`,
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the node's plugins (rescans the plugins directory)",
		Args:  cobra.NoArgs,
		RunE: run(func(c *cli, _ []string) error {
			raws, _, err := c.listRaw("/api/v1/plugins", nil, 0)
			if err != nil {
				return err
			}
			items, err := decodeItems[client.Plugin](raws)
			if err != nil {
				return err
			}
			return c.emit(raws, func(w io.Writer) {
				row(w, "NAME", "VERSION", "STATE", "PID", "RESTARTS", "CAPABILITIES", "CHECKSUM", "LAST ERROR")
				for i := range items {
					p := &items[i]
					row(w, p.Name, orDash(p.Version), p.State, pluginPid(p), strconv.Itoa(p.Restarts), pluginCaps(p),
						pluginChecksum(p), oneLine(orDash(p.LastError), 80))
				}
			})
		}),
	}

	action := func(name, short string) *cobra.Command {
		return &cobra.Command{
			Use:   name + " NAME",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: run(func(c *cli, args []string) error {
				var p client.Plugin
				raw, err := c.callRaw(http.MethodPost, "/api/v1/plugins/"+url.PathEscape(args[0])+"/"+name, nil, nil, &p)
				if err != nil {
					return err
				}
				return c.emit(raw, func(w io.Writer) { pluginTable(w, &p) })
			}),
		}
	}

	cmd.AddCommand(list,
		action("start", "Start a plugin now (it otherwise starts on first use)"),
		action("stop", "Stop a plugin's process; it starts again on next use"),
		action("approve", "Approve the plugin binary's current checksum, so a changed binary may run"))
	return cmd
}
