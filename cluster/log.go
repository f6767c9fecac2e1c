package cluster

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogHandler sends protoactor's slog records to our hclog logger at warn
// and above: the library logs every activation and gossip round at info.
type hclogHandler struct {
	log   hclog.Logger
	attrs []any
}

func (h *hclogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.String())
		return true
	})
	if r.Level >= slog.LevelError {
		h.log.Error(r.Message, args...)
	} else {
		h.log.Warn(r.Message, args...)
	}
	return nil
}

func (h *hclogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &hclogHandler{log: h.log, attrs: append([]any(nil), h.attrs...)}
	for _, a := range as {
		n.attrs = append(n.attrs, a.Key, a.Value.String())
	}
	return n
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	return &hclogHandler{log: h.log.Named(name), attrs: h.attrs}
}
