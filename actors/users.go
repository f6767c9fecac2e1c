package actors

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/seal"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// Users are deployment-wide (a user belongs to many organizations), so they
// are not an org grain's state. Each record has one key and every change is
// a compare-and-set write, which is all the coordination they need; the
// email index is claimed with a create-only write so two registrations of
// one address cannot both succeed, on one node or many.

// userRecord is what is stored for a user. The email is sealed; lookups use
// its keyed index.
type userRecord struct {
	ID           string    `json:"id"`
	EmailIndex   string    `json:"email_index"`
	EmailSealed  string    `json:"email_sealed"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"`
	CreatedAt    time.Time `json:"created_at"`
}

// tokenRecord is a session or personal access token: only its hash.
type tokenRecord struct {
	UserID     string     `json:"user_id"`
	Kind       string     `json:"kind"` // "session" | "pat"
	PATID      string     `json:"pat_id,omitempty"`
	Hash       []byte     `json:"hash"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// patRecord lists a personal access token under its user.
type patRecord struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	TokenID   string     `json:"token_id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// UserView is a user as returned by the API.
type UserView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// PATView is a personal access token's metadata.
type PATView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// PATCreated carries the token, shown this once.
type PATCreated struct {
	PAT   PATView `json:"personal_access_token"`
	Token string  `json:"token"`
}

// LoginResult is a new session.
type LoginResult struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      UserView  `json:"user"`
}

// Users is the user directory: registration, login, tokens.
type Users struct {
	env *Env
	// lastUse throttles last_used_at writes to once a minute per token.
	mu      sync.Mutex
	lastUse map[string]time.Time
}

// NewUsers makes the directory.
func NewUsers(env *Env) *Users { return &Users{env: env, lastUse: map[string]time.Time{}} }

// RegisterInput is a new account.
type RegisterInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

func (u *Users) view(rec *userRecord) UserView {
	email, err := u.env.openString(emailAD, rec.EmailSealed)
	if err != nil {
		u.env.Log.Error("cannot open a sealed email; is the encryption key the one the data was written with?", "user", rec.ID)
	}
	return UserView{ID: rec.ID, Email: email, Name: rec.Name, CreatedAt: rec.CreatedAt}
}

// Register creates a user; the email must be new.
func (u *Users) Register(ctx context.Context, in RegisterInput) (*UserView, error) {
	email := seal.NormalizeEmail(in.Email)
	if e := seal.ValidateEmail("email", email); e != nil {
		return nil, e
	}
	if e := credential.ValidatePassword(in.Password); e != nil {
		return nil, e
	}
	name := strings.TrimSpace(in.Name)
	if e := tenant.ValidateName("name", name); e != nil {
		return nil, e
	}
	id, err := credential.NewID(u.env.Rand, "usr_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	hash, err := credential.HashPassword(u.env.Rand, u.env.Password, in.Password)
	if err != nil {
		return nil, errs.Internal(err)
	}
	sealed, err := u.env.sealString(emailAD, email)
	if err != nil {
		return nil, errs.Internal(err)
	}
	rec := userRecord{ID: id, EmailIndex: u.env.emailIndex(email), EmailSealed: sealed, Name: name,
		PasswordHash: hash, CreatedAt: u.env.now()}
	// Write the user first, then claim the email: a crash in between leaves
	// an unreachable record, never an email pointing at nothing.
	b, _ := json.Marshal(rec)
	if _, err := u.env.Store.Save(ctx, keyUser(id), b, 0); err != nil {
		return nil, storeErr(err)
	}
	if _, err := u.env.Store.Save(ctx, keyEmail(rec.EmailIndex), []byte(id), 0); err != nil {
		_ = u.env.Store.Delete(ctx, keyUser(id), 1)
		if errors.Is(err, store.ErrConflict) {
			return nil, errs.Conflict("email_taken", "email", "an account with that email exists; log in instead")
		}
		return nil, storeErr(err)
	}
	v := u.view(&rec)
	return &v, nil
}

func (u *Users) load(ctx context.Context, id string) (*userRecord, error) {
	var rec userRecord
	if _, err := u.env.loadJSON(ctx, keyUser(id), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errs.NotFound("user")
		}
		return nil, storeErr(err)
	}
	return &rec, nil
}

// ByEmail finds a user by address.
func (u *Users) ByEmail(ctx context.Context, email string) (*userRecord, error) {
	id, _, err := u.env.Store.Load(ctx, keyEmail(u.env.emailIndex(email)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFound("user")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return u.load(ctx, string(id))
}

// Get returns a user's view.
func (u *Users) Get(ctx context.Context, id string) (*UserView, error) {
	rec, err := u.load(ctx, id)
	if err != nil {
		return nil, err
	}
	v := u.view(rec)
	return &v, nil
}

// member builds the membership record a user brings to an organization.
func (u *Users) member(ctx context.Context, id string) (tenant.Member, error) {
	rec, err := u.load(ctx, id)
	if err != nil {
		return tenant.Member{}, err
	}
	return tenant.Member{UserID: rec.ID, Name: rec.Name, EmailIndex: rec.EmailIndex, EmailSealed: rec.EmailSealed}, nil
}

// Login checks the password and starts a session.
func (u *Users) Login(ctx context.Context, email, password string) (*LoginResult, error) {
	bad := errs.Unauthenticated("invalid_credentials", "email or password is wrong")
	rec, err := u.ByEmail(ctx, email)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Kind == errs.KindNotFound {
			// Spend the same effort as a real check so response time does
			// not reveal which emails have accounts.
			_, _ = credential.HashPassword(u.env.Rand, u.env.Password, password)
			return nil, bad
		}
		return nil, err
	}
	ok, err := credential.VerifyPassword(rec.PasswordHash, password)
	if err != nil {
		return nil, errs.Internal(err)
	}
	if !ok {
		return nil, bad
	}
	token, tokenID, err := credential.NewToken(u.env.Rand, credential.SessionPrefix)
	if err != nil {
		return nil, errs.Internal(err)
	}
	now := u.env.now()
	exp := now.Add(u.env.sessionTTL())
	tr := tokenRecord{UserID: rec.ID, Kind: "session", Hash: u.env.Hasher.Hash(token), CreatedAt: now, ExpiresAt: &exp}
	b, _ := json.Marshal(tr)
	if _, err := u.env.Store.Save(ctx, keyToken(tokenID), b, 0); err != nil {
		return nil, storeErr(err)
	}
	return &LoginResult{Token: token, ExpiresAt: exp, User: u.view(rec)}, nil
}

// Authenticate resolves a session or personal access token to its user.
func (u *Users) Authenticate(ctx context.Context, token string) (string, error) {
	prefix := credential.SessionPrefix
	if strings.HasPrefix(token, credential.PATPrefix) {
		prefix = credential.PATPrefix
	}
	tokenID, err := credential.ParseToken(token, prefix)
	if err != nil {
		return "", errs.Unauthenticated("invalid_token", "the token is not valid")
	}
	var tr tokenRecord
	ver, err := u.env.loadJSON(ctx, keyToken(tokenID), &tr)
	if errors.Is(err, store.ErrNotFound) {
		return "", errs.Unauthenticated("invalid_token", "the token is not valid")
	}
	if err != nil {
		return "", storeErr(err)
	}
	if !u.env.Hasher.Equal(token, tr.Hash) {
		return "", errs.Unauthenticated("invalid_token", "the token is not valid")
	}
	now := u.env.now()
	if tr.ExpiresAt != nil && !now.Before(*tr.ExpiresAt) {
		return "", errs.Unauthenticated("token_expired", "the token has expired; log in again or create a new token")
	}
	if tr.Kind == "pat" {
		u.touch(ctx, tokenID, &tr, ver, now)
	}
	return tr.UserID, nil
}

// touch records last use of a personal access token, at most once a minute.
func (u *Users) touch(ctx context.Context, tokenID string, tr *tokenRecord, ver store.Version, now time.Time) {
	u.mu.Lock()
	last := u.lastUse[tokenID]
	if now.Sub(last) < time.Minute {
		u.mu.Unlock()
		return
	}
	u.lastUse[tokenID] = now
	if len(u.lastUse) > 100000 {
		u.lastUse = map[string]time.Time{}
	}
	u.mu.Unlock()
	tr.LastUsedAt = &now
	b, _ := json.Marshal(tr)
	_, _ = u.env.Store.Save(ctx, keyToken(tokenID), b, ver) // a conflict means a newer write: fine
}

// Logout revokes a session token.
func (u *Users) Logout(ctx context.Context, token string) error {
	tokenID, err := credential.ParseToken(token, credential.SessionPrefix)
	if err != nil {
		return errs.Invalid("token", "invalid_format", "only session tokens can be logged out; revoke personal access tokens instead")
	}
	return storeErr(u.env.deleteIndex(ctx, keyToken(tokenID)))
}

// CreatePATInput names a personal access token.
type CreatePATInput struct {
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// CreatePAT mints a personal access token for scripts.
func (u *Users) CreatePAT(ctx context.Context, userID string, in CreatePATInput) (*PATCreated, error) {
	name := strings.TrimSpace(in.Name)
	if e := tenant.ValidateName("name", name); e != nil {
		return nil, e
	}
	now := u.env.now()
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return nil, errs.Invalid("expires_at", "out_of_range", "expires_at must be in the future")
	}
	id, err := credential.NewID(u.env.Rand, "pat_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	token, tokenID, err := credential.NewToken(u.env.Rand, credential.PATPrefix)
	if err != nil {
		return nil, errs.Internal(err)
	}
	pr := patRecord{ID: id, Name: name, TokenID: tokenID, CreatedAt: now, ExpiresAt: in.ExpiresAt}
	b, _ := json.Marshal(pr)
	if _, err := u.env.Store.Save(ctx, keyUserPAT(userID, id), b, 0); err != nil {
		return nil, storeErr(err)
	}
	tr := tokenRecord{UserID: userID, Kind: "pat", PATID: id, Hash: u.env.Hasher.Hash(token), CreatedAt: now, ExpiresAt: in.ExpiresAt}
	b, _ = json.Marshal(tr)
	if _, err := u.env.Store.Save(ctx, keyToken(tokenID), b, 0); err != nil {
		return nil, storeErr(err)
	}
	return &PATCreated{PAT: u.patView(ctx, pr), Token: token}, nil
}

func (u *Users) patView(ctx context.Context, pr patRecord) PATView {
	v := PATView{ID: pr.ID, Name: pr.Name, Prefix: credential.PATPrefix + pr.TokenID, CreatedAt: pr.CreatedAt, ExpiresAt: pr.ExpiresAt}
	var tr tokenRecord
	if _, err := u.env.loadJSON(ctx, keyToken(pr.TokenID), &tr); err == nil {
		v.LastUsedAt = tr.LastUsedAt
	}
	return v
}

// ListPATs lists a user's personal access tokens.
func (u *Users) ListPATs(ctx context.Context, userID string) ([]PATView, error) {
	var out []PATView
	err := u.env.Store.Scan(ctx, keyUserPATPrefix(userID), nil, func(it store.Item) error {
		var pr patRecord
		if err := json.Unmarshal(it.Value, &pr); err != nil {
			return err
		}
		out = append(out, u.patView(ctx, pr))
		return nil
	})
	return out, storeErr(err)
}

// RevokePAT deletes a personal access token at once.
func (u *Users) RevokePAT(ctx context.Context, userID, patID string) error {
	var pr patRecord
	if _, err := u.env.loadJSON(ctx, keyUserPAT(userID, patID), &pr); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errs.NotFound("token")
		}
		return storeErr(err)
	}
	if err := u.env.deleteIndex(ctx, keyToken(pr.TokenID)); err != nil {
		return storeErr(err)
	}
	return storeErr(u.env.deleteIndex(ctx, keyUserPAT(userID, patID)))
}
