package actors

import (
	"context"
	"errors"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/plugins/host"
)

// PluginView is one connector plugin as the operator sees it.
type PluginView struct {
	Name         string     `json:"name"`
	Version      string     `json:"version,omitempty"`
	Description  string     `json:"description,omitempty"`
	Capabilities []string   `json:"capabilities"`
	Checksum     string     `json:"checksum"`
	Pinned       string     `json:"pinned_checksum,omitempty"`
	State        string     `json:"state"`
	Pid          int        `json:"pid,omitempty"`
	Protocol     int        `json:"protocol,omitempty"`
	Restarts     int        `json:"restarts"`
	LastError    string     `json:"last_error,omitempty"`
	NextRestart  *time.Time `json:"next_restart,omitempty"`
}

func pluginView(i host.Info) PluginView {
	v := PluginView{Name: i.Name, Version: i.Version, Description: i.Description, Capabilities: []string{}, Checksum: i.Checksum,
		State: string(i.State), Pid: i.Pid, Protocol: i.Protocol, Restarts: i.Restarts, LastError: i.LastError}
	if i.Pinned != i.Checksum {
		v.Pinned = i.Pinned
	}
	for _, c := range i.Capabilities {
		v.Capabilities = append(v.Capabilities, string(c))
	}
	if !i.NextRestart.IsZero() {
		t := i.NextRestart.UTC()
		v.NextRestart = &t
	}
	return v
}

// plugins returns the node's plugin host, or an error when it has none.
func (c *Client) plugins(caller tenant.Caller) (*host.Host, error) {
	if !caller.Operator {
		return nil, &errs.Error{Kind: errs.KindForbidden, Code: "operator_only", Message: "only the operator manages plugins"}
	}
	if c.env.Plugins == nil {
		return nil, errs.Unavailable("this node runs without a plugins directory", nil)
	}
	return c.env.Plugins, nil
}

// Plugins lists the connector plugins of this node (operator only),
// rescanning the plugins directory first.
func (c *Client) PluginList(caller tenant.Caller) ([]PluginView, error) {
	h, err := c.plugins(caller)
	if err != nil {
		return nil, err
	}
	if err := h.Discover(); err != nil {
		return nil, errs.Unavailable("the plugins directory cannot be read", err)
	}
	out := []PluginView{}
	for _, i := range h.List() {
		out = append(out, pluginView(i))
	}
	return out, nil
}

// PluginAction starts, stops or approves one plugin (operator only) and
// returns its state after.
func (c *Client) PluginAction(ctx context.Context, caller tenant.Caller, name, action string) (*PluginView, error) {
	h, err := c.plugins(caller)
	if err != nil {
		return nil, err
	}
	if _, err := h.Get(name); err != nil {
		return nil, errs.NotFound("plugin")
	}
	switch action {
	case "start":
		err = h.Start(ctx, name)
	case "stop":
		err = h.Stop(name)
	case "approve":
		err = h.Approve(name)
	default:
		return nil, errs.NotFound("action")
	}
	if err != nil {
		if errors.Is(err, host.ErrUnapproved) {
			return nil, errs.Conflict("plugin_unapproved", "", "the plugin's binary changed since it was approved; approve it first")
		}
		return nil, errs.Conflict("plugin_"+action+"_failed", "", err.Error())
	}
	i, err := h.Get(name)
	if err != nil {
		return nil, errs.NotFound("plugin")
	}
	v := pluginView(i)
	return &v, nil
}
