package sdk

import (
	"context"
	"errors"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trailspark/trailspark/sdk/connector"
	pb "github.com/trailspark/trailspark/sdk/proto/v1"
)

// Conversions between the Go contract (package connector) and proto/v1.
// Kept in one file so a new field is added in one place on both sides.

func cfgToPB(c connector.Config) *pb.Config {
	return &pb.Config{Tenant: c.Tenant, BaseUrl: c.BaseURL, Credentials: c.Credentials, Options: c.Options}
}

func cfgFromPB(c *pb.Config) connector.Config {
	if c == nil {
		return connector.Config{}
	}
	return connector.Config{Tenant: c.Tenant, BaseURL: c.BaseUrl, Credentials: c.Credentials, Options: c.Options}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

var kindToPB = map[connector.ErrorKind]pb.Error_Kind{
	connector.KindUnsupported:   pb.Error_KIND_UNSUPPORTED,
	connector.KindRetryable:     pb.Error_KIND_RETRYABLE,
	connector.KindPermanent:     pb.Error_KIND_PERMANENT,
	connector.KindUnauthorized:  pb.Error_KIND_UNAUTHORIZED,
	connector.KindRateLimited:   pb.Error_KIND_RATE_LIMITED,
	connector.KindInvalidConfig: pb.Error_KIND_INVALID_CONFIG,
	connector.KindNotFound:      pb.Error_KIND_NOT_FOUND,
}

var kindToCode = map[connector.ErrorKind]codes.Code{
	connector.KindUnsupported:   codes.Unimplemented,
	connector.KindRetryable:     codes.Unavailable,
	connector.KindPermanent:     codes.FailedPrecondition,
	connector.KindUnauthorized:  codes.Unauthenticated,
	connector.KindRateLimited:   codes.ResourceExhausted,
	connector.KindInvalidConfig: codes.InvalidArgument,
	connector.KindNotFound:      codes.NotFound,
}

func errToPB(e *connector.Error) *pb.Error {
	if e == nil {
		return nil
	}
	k, ok := kindToPB[e.Kind]
	if !ok {
		k = pb.Error_KIND_RETRYABLE
	}
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return &pb.Error{Kind: k, Message: msg, RetryAfterMs: e.RetryAfter.Milliseconds(), Field: e.Field}
}

func errFromPB(e *pb.Error) *connector.Error {
	if e == nil {
		return nil
	}
	k := connector.KindRetryable
	for gk, pk := range kindToPB {
		if pk == e.Kind {
			k = gk
		}
	}
	return &connector.Error{Kind: k, Message: e.Message, RetryAfter: time.Duration(e.RetryAfterMs) * time.Millisecond, Field: e.Field}
}

// toStatus is the plugin side: every error leaves as a gRPC status with a
// pb.Error detail. An untyped error is sent as retryable: most untyped errors
// in connectors are network failures; authors return connector.Permanent for
// what will not get better (docs/plugins.md, "Errors").
func toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return status.FromContextError(ctx.Err()).Err()
	}
	var ce *connector.Error
	if !errors.As(err, &ce) {
		ce = &connector.Error{Kind: connector.KindRetryable, Message: err.Error()}
	} else if ce.Message == "" {
		// Keep the wrapping context the author added with %w.
		ce = &connector.Error{Kind: ce.Kind, Message: err.Error(), RetryAfter: ce.RetryAfter, Field: ce.Field}
	}
	code, ok := kindToCode[ce.Kind]
	if !ok {
		code = codes.Unavailable
	}
	st := status.New(code, ce.Error())
	if withDetail, derr := st.WithDetails(errToPB(ce)); derr == nil {
		st = withDetail
	}
	return st.Err()
}

// fromStatus is the host side. It always returns a *connector.Error except
// for the caller's own cancellation, which comes back as context.Canceled.
func fromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return err
		}
		return &connector.Error{Kind: connector.KindRetryable, Message: err.Error(), Err: err}
	}
	for _, d := range st.Details() {
		if pe, ok := d.(*pb.Error); ok {
			return errFromPB(pe)
		}
	}
	switch st.Code() {
	case codes.Canceled:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &connector.Error{Kind: connector.KindRetryable, Message: "call cancelled by the plugin: " + st.Message()}
	case codes.DeadlineExceeded:
		// Our deadline: the plugin may still succeed next time.
		return &connector.Error{Kind: connector.KindRetryable, Message: "call timed out: " + st.Message(), Err: context.DeadlineExceeded}
	case codes.Unimplemented:
		// An older plugin that does not know this RPC (protocol additions).
		return &connector.Error{Kind: connector.KindUnsupported, Message: st.Message()}
	case codes.Unavailable:
		// The plugin process exited or is restarting.
		return &connector.Error{Kind: connector.KindRetryable, Message: "plugin unavailable: " + st.Message()}
	case codes.ResourceExhausted:
		// Without our detail this is gRPC's own message-size limit.
		return &connector.Error{Kind: connector.KindPermanent, Message: st.Message()}
	case codes.Unauthenticated:
		return &connector.Error{Kind: connector.KindUnauthorized, Message: st.Message()}
	case codes.InvalidArgument:
		return &connector.Error{Kind: connector.KindPermanent, Message: st.Message()}
	}
	return &connector.Error{Kind: connector.KindRetryable, Message: st.Message()}
}

func recordToPB(r connector.Record) *pb.Record {
	return &pb.Record{Id: r.ID, Kind: string(r.Kind), FieldsJson: r.Fields, UpdatedAtUnixNano: unixNano(r.UpdatedAt), Deleted: r.Deleted}
}

func recordFromPB(r *pb.Record) connector.Record {
	return connector.Record{ID: r.Id, Kind: connector.Kind(r.Kind), Fields: r.FieldsJson, UpdatedAt: fromUnixNano(r.UpdatedAtUnixNano), Deleted: r.Deleted}
}

func updatesToPB(us []connector.ScoreUpdate) []*pb.ScoreUpdate {
	out := make([]*pb.ScoreUpdate, len(us))
	for i, u := range us {
		out[i] = &pb.ScoreUpdate{RecordId: u.RecordID, Email: u.Email, FieldsJson: u.Fields, CreateIfMissing: u.CreateIfMissing, IdempotencyKey: u.IdempotencyKey}
	}
	return out
}

func updatesFromPB(us []*pb.ScoreUpdate) []connector.ScoreUpdate {
	out := make([]connector.ScoreUpdate, len(us))
	for i, u := range us {
		out[i] = connector.ScoreUpdate{RecordID: u.RecordId, Email: u.Email, Fields: u.FieldsJson, CreateIfMissing: u.CreateIfMissing, IdempotencyKey: u.IdempotencyKey}
	}
	return out
}

func resultsToPB(rs []connector.WriteResult) []*pb.WriteResult {
	out := make([]*pb.WriteResult, len(rs))
	for i, r := range rs {
		out[i] = &pb.WriteResult{Index: int32(r.Index), RecordId: r.RecordID, Created: r.Created, Unchanged: r.Unchanged, Error: errToPB(r.Err)}
	}
	return out
}

func resultsFromPB(rs []*pb.WriteResult) []connector.WriteResult {
	out := make([]connector.WriteResult, len(rs))
	for i, r := range rs {
		out[i] = connector.WriteResult{Index: int(r.Index), RecordID: r.RecordId, Created: r.Created, Unchanged: r.Unchanged, Err: errFromPB(r.Error)}
	}
	return out
}

func headersToPB(h http.Header) []*pb.Header {
	out := make([]*pb.Header, 0, len(h))
	for k, v := range h {
		out = append(out, &pb.Header{Name: k, Values: v})
	}
	return out
}

func headersFromPB(hs []*pb.Header) http.Header {
	h := make(http.Header, len(hs))
	for _, x := range hs {
		for _, v := range x.Values {
			h.Add(x.Name, v)
		}
	}
	return h
}

func signalsToPB(ss []connector.Signal) []*pb.Signal {
	out := make([]*pb.Signal, len(ss))
	for i, s := range ss {
		out[i] = &pb.Signal{
			Source: s.Source, Type: s.Type, Event: s.Event, Email: s.Email, UserId: s.UserID,
			AnonymousId: s.AnonymousID, GroupId: s.GroupID, MessageId: s.MessageID,
			TimestampUnixNano: unixNano(s.Timestamp), SentAtUnixNano: unixNano(s.SentAt),
			PropertiesJson: s.Properties, TraitsJson: s.Traits, PayloadJson: s.Payload, Route: string(s.Route),
		}
	}
	return out
}

func signalsFromPB(ss []*pb.Signal) []connector.Signal {
	out := make([]connector.Signal, len(ss))
	for i, s := range ss {
		out[i] = connector.Signal{
			Source: s.Source, Type: s.Type, Event: s.Event, Email: s.Email, UserID: s.UserId,
			AnonymousID: s.AnonymousId, GroupID: s.GroupId, MessageID: s.MessageId,
			Timestamp: fromUnixNano(s.TimestampUnixNano), SentAt: fromUnixNano(s.SentAtUnixNano),
			Properties: s.PropertiesJson, Traits: s.TraitsJson, Payload: s.PayloadJson, Route: connector.Route(s.Route),
		}
	}
	return out
}

func metadataToPB(m connector.Metadata) []*pb.Object {
	out := make([]*pb.Object, len(m.Objects))
	for i, o := range m.Objects {
		po := &pb.Object{Name: o.Name, Label: o.Label, Kind: string(o.Kind)}
		for _, f := range o.Fields {
			pf := &pb.Field{Name: f.Name, Label: f.Label, Type: string(f.Type), Writable: f.Writable, Required: f.Required, ReferenceTo: f.ReferenceTo}
			for _, v := range f.Picklist {
				pf.Picklist = append(pf.Picklist, &pb.PicklistValue{Value: v.Value, Label: v.Label})
			}
			po.Fields = append(po.Fields, pf)
		}
		out[i] = po
	}
	return out
}

func metadataFromPB(objs []*pb.Object) connector.Metadata {
	m := connector.Metadata{Objects: make([]connector.Object, len(objs))}
	for i, po := range objs {
		o := connector.Object{Name: po.Name, Label: po.Label, Kind: connector.Kind(po.Kind)}
		for _, pf := range po.Fields {
			f := connector.Field{Name: pf.Name, Label: pf.Label, Type: connector.FieldType(pf.Type), Writable: pf.Writable, Required: pf.Required, ReferenceTo: pf.ReferenceTo}
			for _, v := range pf.Picklist {
				f.Picklist = append(f.Picklist, connector.PicklistValue{Value: v.Value, Label: v.Label})
			}
			o.Fields = append(o.Fields, f)
		}
		m.Objects[i] = o
	}
	return m
}

func tokenToPB(t connector.Token) *pb.TokenResponse {
	return &pb.TokenResponse{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType,
		ExpiryUnixNano: unixNano(t.Expiry), InstanceUrl: t.InstanceURL, Scopes: t.Scopes, Extra: t.Extra}
}

func tokenFromPB(t *pb.TokenResponse) connector.Token {
	return connector.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType,
		Expiry: fromUnixNano(t.ExpiryUnixNano), InstanceURL: t.InstanceUrl, Scopes: t.Scopes, Extra: t.Extra}
}

func capsToStrings(cs []connector.Capability) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func kindsToStrings(ks []connector.Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}
