// Package store defines where TrailSpark keeps state: a versioned key-value
// StateStore with compare-and-set writes. Grains are the single writers of
// their keys; versions make a second, accidental activation safe (its write
// fails with ErrConflict instead of silently overwriting).
//
// Keys are byte strings. Tenant data lives under "o/{org}/..."; deployment-wide
// indexes under "g/...". Implementations: store/badger (one node) and, later,
// store/postgres (cluster). Every implementation passes store/storetest.
package store

import (
	"context"
	"errors"
)

var (
	// ErrNotFound: Load of a key that does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: Save/Delete with an expected version that is not current.
	ErrConflict = errors.New("store: version conflict")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// Version is a key's write counter: 0 means "absent", the first Save makes 1.
type Version uint64

// AnyVersion as a Write's Expected skips the version check (last writer
// wins), for index entries that readers verify anyway.
const AnyVersion Version = ^Version(0)

// Write is one write of a SaveBatch: a save of Value, or with Delete a
// removal of Key (Value is ignored). Expected applies to both: the key's
// current version must equal it (0 = absent; AnyVersion skips the check).
// A delete with Expected 0 of an absent key is a no-op, as in Delete; a
// delete with AnyVersion removes the key whether or not it exists.
type Write struct {
	Key      []byte
	Value    []byte
	Expected Version
	Delete   bool
}

// Item is one key with its value and version, as returned by Scan.
type Item struct {
	Key     []byte
	Value   []byte
	Version Version
}

// StateStore is a versioned key-value store with optimistic concurrency.
type StateStore interface {
	// Load returns the value and version of key, or ErrNotFound.
	Load(ctx context.Context, key []byte) ([]byte, Version, error)
	// Save writes value if the key's current version equals expected
	// (0 = key must not exist) and returns the new version; otherwise
	// ErrConflict and nothing is written.
	Save(ctx context.Context, key, value []byte, expected Version) (Version, error)
	// Delete removes key if its current version equals expected; ErrConflict
	// otherwise; deleting an absent key with expected 0 is a no-op.
	Delete(ctx context.Context, key []byte, expected Version) error
	// Scan calls fn for each key with the prefix in ascending key order,
	// starting strictly after `after` when it is non-nil. Returning a non-nil
	// error from fn stops the scan and returns that error. Values passed to fn
	// are copies the callee may keep.
	Scan(ctx context.Context, prefix, after []byte, fn func(Item) error) error
	// SaveBatch applies writes (saves and deletes) atomically: every key
	// must be at its Expected version (AnyVersion skips the check), else
	// ErrConflict and nothing is written or deleted. It returns the new
	// versions in order (0 for a delete: the key is absent). A key should
	// appear at most once in a batch.
	SaveBatch(ctx context.Context, writes []Write) ([]Version, error)
	// DropTenant removes every key under "o/{org}/".
	DropTenant(ctx context.Context, org string) error
	// Close releases resources; further calls return ErrClosed.
	Close() error
}

// TenantPrefix is the key prefix of everything one organization owns.
func TenantPrefix(org string) []byte { return []byte("o/" + org + "/") }

// TenantKey builds "o/{org}/{part}/{part}...".
func TenantKey(org string, parts ...string) []byte {
	k := TenantPrefix(org)
	for i, p := range parts {
		if i > 0 {
			k = append(k, '/')
		}
		k = append(k, p...)
	}
	return k
}

// GlobalKey builds "g/{part}/{part}..." for deployment-wide indexes.
func GlobalKey(parts ...string) []byte {
	k := []byte("g")
	for _, p := range parts {
		k = append(k, '/')
		k = append(k, p...)
	}
	return k
}
