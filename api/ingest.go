package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/signal"
	"github.com/trailspark/trailspark/engine/tenant"
)

// Ingestion endpoints (hosted-product compatible). The key travels in the
// path or as a bearer token; a key with a secret also needs X-Api-Secret or
// a signature over the raw body, verified before the body is parsed.

// webhookOne serves POST /api/signal-staging/webhook/:a: {apiKey}, or
// "batch" with the key as a bearer token.
func (s *Server) webhookOne(c *gin.Context) {
	if c.Param("a") == "batch" {
		s.ingestBatch(c, "")
		return
	}
	s.ingestSingle(c, "", c.Param("a"))
}

// webhookBearer serves POST /api/signal-staging/webhook with the key as a
// bearer token.
func (s *Server) webhookBearer(c *gin.Context) { s.ingestSingle(c, "", "") }

// webhookTwo serves POST /api/signal-staging/webhook/:a/:b, which is either
// {apiKey}/batch or {source}/{apiKey}: the router cannot tell them apart,
// keys can (they start with sk_; "batch" is not a key).
func (s *Server) webhookTwo(c *gin.Context) {
	a, b := c.Param("a"), c.Param("b")
	if b == "batch" {
		s.ingestBatch(c, a)
		return
	}
	src := strings.ToLower(a)
	if !signal.ValidSource(src) {
		fail(c, errs.Invalid("source", "invalid_format", "the source in the path must be 1-32 characters of a-z, 0-9, '_' and '-'"))
		return
	}
	s.ingestSingle(c, src, b)
}

func keyFrom(c *gin.Context, pathKey string) string {
	if pathKey != "" {
		return pathKey
	}
	return bearer(c)
}

// readIngestBody reads a JSON body of at most limit bytes.
func readIngestBody(c *gin.Context, limit int64, what string) ([]byte, error) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "text/plain") {
			return nil, &errs.Error{Kind: errs.KindUnsupportedType, Code: "unsupported_media_type", Message: "send the body as application/json"}
		}
	}
	tooLarge := &errs.Error{Kind: errs.KindTooLarge, Code: "payload_too_large",
		Message: fmt.Sprintf("%s is larger than the limit of %d bytes", what, limit)}
	if c.Request.ContentLength > limit {
		return nil, tooLarge
	}
	// Sized from Content-Length when the client sent one: io.ReadAll
	// would start at 512 bytes and copy a 500 KB batch through a dozen
	// growing buffers.
	var buf bytes.Buffer
	if n := c.Request.ContentLength; n > 0 {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, errs.Invalid("", "malformed_json", "the body could not be read")
	}
	return body, nil
}

// ingestAuth authenticates the key for the signal-staging endpoints.
func (s *Server) ingestAuth(c *gin.Context, pathKey string, body []byte) (*actors.KeyIdentity, error) {
	id, err := s.authenticateKey(c, keyFrom(c, pathKey), body)
	if err != nil {
		return nil, err
	}
	if id.Type != string(tenant.KeySignalStaging) {
		return nil, errs.Unauthenticated("key_wrong_type", "this key is a "+id.Type+" key; signal endpoints need a signal_staging key")
	}
	return id, nil
}

func forcedSource(c *gin.Context, pathSource string) (string, error) {
	if pathSource != "" {
		return pathSource, nil
	}
	if h := strings.ToLower(strings.TrimSpace(c.GetHeader("X-Source"))); h != "" {
		if !signal.ValidSource(h) {
			return "", errs.Invalid("X-Source", "invalid_format", "X-Source must be 1-32 characters of a-z, 0-9, '_' and '-'")
		}
		return h, nil
	}
	return "", nil
}

type singleAccepted struct {
	ID          uint64 `json:"id"`
	Message     string `json:"message"`
	Source      string `json:"source"`
	ColdStorage bool   `json:"cold_storage"`
	Duplicate   bool   `json:"duplicate,omitempty"`
}

func (s *Server) ingestSingle(c *gin.Context, pathSource, pathKey string) {
	body, err := readIngestBody(c, signal.MaxSignalBytes, "a signal")
	if err != nil {
		fail(c, err)
		return
	}
	id, err := s.ingestAuth(c, pathKey, body)
	if err != nil {
		fail(c, err)
		return
	}
	src, err := forcedSource(c, pathSource)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxOrg, id.OrgID)
	if !s.admitIngest(c, id, 1) {
		return
	}
	res, err := s.client.Ingest().Accept(c.Request.Context(), actors.AcceptOptions{Org: id.OrgID, KeyID: id.KeyID,
		ForcedSource: src, IdempotencyKey: c.GetHeader("Idempotency-Key"), ReceivedAt: s.now()}, [][]byte{body})
	if err != nil {
		fail(c, err)
		return
	}
	r := res[0]
	if r.Err != nil {
		fail(c, r.Err)
		return
	}
	c.JSON(http.StatusAccepted, singleAccepted{ID: r.ID, Message: "Signal received and queued for processing",
		Source: r.Source, ColdStorage: r.ColdStorage, Duplicate: r.Duplicate})
}

type batchItem struct {
	Index       int          `json:"index"`
	ID          uint64       `json:"id,omitempty"`
	Source      string       `json:"source,omitempty"`
	ColdStorage bool         `json:"cold_storage,omitempty"`
	Duplicate   bool         `json:"duplicate,omitempty"`
	Error       *errorDetail `json:"error,omitempty"`
}

type batchAccepted struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Results  []batchItem `json:"results"`
}

func (s *Server) ingestBatch(c *gin.Context, pathKey string) {
	body, err := readIngestBody(c, signal.MaxBatchBytes, "a batch")
	if err != nil {
		fail(c, err)
		return
	}
	id, err := s.ingestAuth(c, pathKey, body)
	if err != nil {
		fail(c, err)
		return
	}
	src, err := forcedSource(c, "")
	if err != nil {
		fail(c, err)
		return
	}
	b, err := signal.ParseBatch(body)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxOrg, id.OrgID)
	if !s.admitIngest(c, id, len(b.Items)) {
		return
	}
	raws := make([][]byte, len(b.Items))
	for i, it := range b.Items {
		raws[i] = it
	}
	res, err := s.client.Ingest().Accept(c.Request.Context(), actors.AcceptOptions{Org: id.OrgID, KeyID: id.KeyID,
		ForcedSource: src, IdempotencyKey: c.GetHeader("Idempotency-Key"), ReceivedAt: s.now(), SentAt: b.SentAt,
		Validated: true}, raws) // ParseBatch validated the body
	if err != nil {
		fail(c, err)
		return
	}
	writeBatchAccepted(c, res)
}

// writeBatchAccepted answers a batch with its per-item results. The body
// is written by hand (byte for byte what encoding/json writes, see
// TestBatchAcceptedJSON): reflecting over 500 results was ~4% of a batch
// request's handling.
func writeBatchAccepted(c *gin.Context, res []actors.ItemResult) {
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", summarize(res).appendJSON(make([]byte, 0, 64+64*len(res))))
}

func (b batchAccepted) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"accepted":`...)
	dst = strconv.AppendInt(dst, int64(b.Accepted), 10)
	dst = append(dst, `,"rejected":`...)
	dst = strconv.AppendInt(dst, int64(b.Rejected), 10)
	dst = append(dst, `,"results":[`...) // summarize always makes the slice
	for i, it := range b.Results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"index":`...)
		dst = strconv.AppendInt(dst, int64(it.Index), 10)
		if it.ID != 0 {
			dst = append(dst, `,"id":`...)
			dst = strconv.AppendUint(dst, it.ID, 10)
		}
		if it.Source != "" {
			dst = appendJSONValue(append(dst, `,"source":`...), it.Source)
		}
		if it.ColdStorage {
			dst = append(dst, `,"cold_storage":true`...)
		}
		if it.Duplicate {
			dst = append(dst, `,"duplicate":true`...)
		}
		if it.Error != nil {
			dst = appendJSONValue(append(dst, `,"error":`...), it.Error)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendJSONValue appends v as encoding/json writes it; a plain string
// (a source name) skips the reflection.
func appendJSONValue(dst []byte, v any) []byte {
	if s, ok := v.(string); ok && plainJSONString(s) {
		return append(append(append(dst, '"'), s...), '"')
	}
	b, err := json.Marshal(v)
	if err != nil { // a string or an errorDetail always marshals
		panic(err)
	}
	return append(dst, b...)
}

// plainJSONString: s needs no escaping (printable ASCII without the
// characters encoding/json escapes: quote, backslash, and <, >, & for HTML).
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func summarize(res []actors.ItemResult) batchAccepted {
	out := batchAccepted{Results: make([]batchItem, len(res))}
	for i, r := range res {
		out.Results[i] = batchItem{Index: r.Index, ID: r.ID, Source: r.Source, ColdStorage: r.ColdStorage, Duplicate: r.Duplicate}
		if r.Err != nil {
			out.Rejected++
			out.Results[i] = batchItem{Index: r.Index, Error: &errorDetail{Code: r.Err.Code, Message: r.Err.Message, Field: r.Err.Field}}
		} else {
			out.Accepted++
		}
	}
	return out
}

// bulkMaxLine bounds one line of a bulk import.
const bulkMaxLine = signal.MaxSignalBytes

// bulkChunk is how many signals a bulk import appends at a time.
const bulkChunk = 500

type bulkSummary struct {
	Accepted   int         `json:"accepted"`
	Rejected   int         `json:"rejected"`
	Duplicates int         `json:"duplicates"`
	Errors     []bulkError `json:"errors"`
	DurationMS int64       `json:"duration_ms"`
	// JobID is the import's job (api/jobs.go), also named by the Location
	// header.
	JobID string `json:"job_id"`
}

type bulkError struct {
	Line  int         `json:"line"`
	Error errorDetail `json:"error"`
}

// bulk serves POST /api/signal-staging/bulk/:apiKey: NDJSON or a JSON
// array, streamed (never held whole in memory), appended in chunks. It
// answers when everything is durable, with a summary and the first 100
// errors by line. Each import is a job whose progress is written after
// every chunk (api/jobs.go); chunks wait for the rate limits rather than
// being refused (api/ratelimit.go).
func (s *Server) bulk(c *gin.Context) {
	start := time.Now()
	if sig := c.GetHeader("X-TrailSpark-Signature"); sig != "" {
		fail(c, errs.Invalid("X-TrailSpark-Signature", "not_supported", "bulk imports are authenticated with X-Api-Secret, not a body signature"))
		return
	}
	id, err := s.ingestAuth(c, c.Param("apiKey"), nil)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxOrg, id.OrgID)
	src, err := forcedSource(c, "")
	if err != nil {
		fail(c, err)
		return
	}
	job, err := s.client.StartJob(c.Request.Context(), id.OrgID, actors.JobKindSignalImport, id.KeyID)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", jobPath(id.OrgID, job.ID()))
	body := &countingReader{r: c.Request.Body}
	r := signal.NewBulkReader(body, bulkMaxLine)
	sum := bulkSummary{Errors: []bulkError{}, JobID: job.ID()}
	var chunk [][]byte
	var lines []int
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := s.waitIngest(c.Request.Context(), id, len(chunk)); err != nil {
			return err
		}
		res, err := s.client.Ingest().Accept(c.Request.Context(), actors.AcceptOptions{Org: id.OrgID, KeyID: id.KeyID,
			ForcedSource: src, ReceivedAt: s.now()}, chunk)
		if err != nil {
			return err
		}
		for i, r := range res {
			switch {
			case r.Err != nil:
				sum.Rejected++
				if len(sum.Errors) < 100 {
					sum.Errors = append(sum.Errors, bulkError{Line: lines[i], Error: errorDetail{Code: r.Err.Code, Message: r.Err.Message, Field: r.Err.Field}})
				}
			case r.Duplicate:
				sum.Duplicates++
			default:
				sum.Accepted++
			}
		}
		chunk, lines = chunk[:0], lines[:0]
		s.jobProgress(c.Request.Context(), job, &sum, body.n)
		return nil
	}
	// stop ends the job as failed and answers with err.
	stop := func(err error) {
		s.endJob(c.Request.Context(), job, &sum, body.n, err)
		fail(c, err)
	}
	for {
		item, line, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var ue *errs.Error
			if !errors.As(err, &ue) { // the body could not be read: the client went away, a timeout
				stop(errs.Invalid("", "malformed_json", "the body could not be read after %d bytes; the import stopped (job %s has what was stored)",
					body.n, job.ID()))
				return
			}
			sum.Rejected++
			if len(sum.Errors) < 100 {
				sum.Errors = append(sum.Errors, bulkError{Line: line, Error: errorDetail{Code: ue.Code, Message: ue.Message, Field: ue.Field}})
			}
			continue // after an unrecoverable error the reader reports io.EOF
		}
		// The reader reuses its line buffer: keep a copy.
		chunk = append(chunk, bytes.Clone(item))
		lines = append(lines, line)
		if len(chunk) == bulkChunk {
			if err := flush(); err != nil {
				stop(err)
				return
			}
		}
	}
	if err := flush(); err != nil {
		stop(err)
		return
	}
	s.endJob(c.Request.Context(), job, &sum, body.n, nil)
	sum.DurationMS = time.Since(start).Milliseconds()
	c.JSON(http.StatusOK, sum)
}
