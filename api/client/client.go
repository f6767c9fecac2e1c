// Package client is a small typed Go client for the TrailSpark HTTP API
// (docs/api.md, api/openapi.yaml). The admin CLI, tests and the bench command
// use it.
//
//	c := client.New("http://127.0.0.1:8080", token)
//	org, err := c.CreateOrg(ctx, client.CreateOrgRequest{Name: "Acme", Size: client.Size11To50, Industry: client.IndustryTechnology})
//	if client.IsCode(err, "subdomain_taken") { ... }
//
// Every method takes a context first. A non-2xx answer is returned as an
// *APIError carrying the status, the error code, message and field from the
// body, and the X-Request-Id of the response.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultUserAgent is sent when WithUserAgent is not used.
const DefaultUserAgent = "trailspark-go-client"

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 64 << 20

// Client talks to one TrailSpark server with one credential. It is safe for
// concurrent use.
type Client struct {
	baseURL   string
	token     string
	hc        *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc (timeouts,
// transport, test servers). The default is a client with a 60 s timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// New returns a client for the server at baseURL (scheme and host, optionally
// a path prefix) sending token as the bearer credential; an empty token sends
// no Authorization header.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		baseURL:   strings.TrimRight(baseURL, "/"),
		token:     token,
		hc:        &http.Client{Timeout: 60 * time.Second},
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL is the server address the client was made with (without a trailing slash).
func (c *Client) BaseURL() string { return c.baseURL }

// Token is the bearer credential the client sends.
func (c *Client) Token() string { return c.token }

// WithToken returns a copy of the client that sends another credential (for
// example the session token returned by Login).
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// APIError is a non-2xx answer from the server.
type APIError struct {
	Status    int    // HTTP status
	Code      string // machine code, e.g. "invalid_enum"; empty when the body was not an API error
	Message   string // a sentence for people
	Field     string // the request field concerned, if any
	RequestID string // X-Request-Id of the response
}

// Error renders "<message> (code <code>, field <field>, request <id>)",
// leaving out the parts that are empty.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	var parts []string
	if e.Code != "" {
		parts = append(parts, "code "+e.Code)
	}
	if e.Field != "" {
		parts = append(parts, "field "+e.Field)
	}
	if e.RequestID != "" {
		parts = append(parts, "request "+e.RequestID)
	}
	if len(parts) == 0 {
		return msg
	}
	return msg + " (" + strings.Join(parts, ", ") + ")"
}

// IsCode reports whether err is (or wraps) an *APIError with the given code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// StatusOf returns the HTTP status of an *APIError in err's chain, or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

type requestIDKey struct{}

// WithRequestID returns a context that makes the client send id as the
// X-Request-Id of its requests (the server echoes it back).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// ListOptions pages through a list. Zero values mean the server defaults
// (limit 50, first page).
type ListOptions struct {
	Limit  int    // 1..200
	Cursor string // next_cursor of the previous page
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// Do sends one request and decodes a 2xx JSON answer into out (when out is
// non-nil and the body is not empty). path is relative to the base URL and
// must already be escaped; query may be nil; body, when non-nil, is sent as
// JSON. It is exported for routes this package does not wrap yet.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	return c.do(ctx, method, path, query, body, out, nil)
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, hdr http.Header) error {
	raw, _, err := c.roundTrip(ctx, method, path, query, body, hdr, "application/json")
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("trailspark: decoding %s %s response: %w", method, path, err)
	}
	return nil
}

// roundTrip performs the request and returns the body of a 2xx answer.
func (c *Client) roundTrip(ctx context.Context, method, path string, query url.Values, body any, hdr http.Header, accept string) ([]byte, http.Header, error) {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, fmt.Errorf("trailspark: encoding %s %s request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("trailspark: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("trailspark: %w", err) // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("trailspark: reading %s %s response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, resp.Header, ErrorFromResponse(resp, raw)
	}
	return raw, resp.Header, nil
}

// ErrorFromResponse reads an error answer (status, request id and the
// {"error": {code, message, field}} body, or an excerpt of anything else)
// — for callers that send their own requests, such as streamed uploads.
func ErrorFromResponse(resp *http.Response, raw []byte) *APIError {
	ae := &APIError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != nil {
		ae.Code, ae.Message, ae.Field = body.Error.Code, body.Error.Message, body.Error.Field
		return ae
	}
	// Not an API error body (a proxy, a crash): keep a short, printable excerpt.
	text := strings.TrimSpace(string(raw))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	ae.Message = fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if text != "" && !strings.ContainsAny(text, "\x00") {
		ae.Message += ": " + text
	}
	return ae
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// collect follows next_cursor until the last page. A server answering the
// same cursor twice is reported instead of looping forever.
func collect[T any](ctx context.Context, fetch func(ListOptions) ([]T, string, error)) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	opts := ListOptions{Limit: 200}
	for {
		items, next, err := fetch(opts)
		if err != nil {
			return all, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		if seen[next] {
			return all, fmt.Errorf("trailspark: server repeated cursor %q", next)
		}
		seen[next] = true
		if err := ctx.Err(); err != nil {
			return all, err
		}
		opts.Cursor = next
	}
}
