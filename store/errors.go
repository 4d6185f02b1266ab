package store

import (
	"errors"
	"fmt"
)

// Sentinel errors of the store package. Callers test them with errors.Is.
var (
	// ErrNotFound means the requested object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrVersionConflict means a write named a version that is no longer
	// current, or created an object that already exists.
	ErrVersionConflict = errors.New("version conflict")
	// ErrReadOnly means the backend does not accept writes (the file store).
	ErrReadOnly = errors.New("store is read-only")
	// ErrInvalid means a document or an object failed validation.
	ErrInvalid = errors.New("invalid store content")
	// ErrInUse means an object cannot be deleted because a grant refers to it.
	ErrInUse = errors.New("object in use")
)

// LoadError is one problem found while reading the store, located by file
// (or key) and line. Line is 0 when the location has no line, for example
// a database row.
type LoadError struct {
	File string
	Line int
	Err  error
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Is reports every LoadError as an [ErrInvalid], so callers can tell bad
// content apart from an unreachable store.
func (e *LoadError) Is(target error) bool { return target == ErrInvalid }
