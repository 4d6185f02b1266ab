package identity

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"unsafe"
)

// tokenKey is the SHA-256 of a token. The cache stores hashes, not tokens,
// so a heap dump does not reveal usable credentials.
type tokenKey [sha256.Size]byte

func hashToken(token string) tokenKey {
	// The token is only read, so hashing its bytes in place avoids a copy.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// tokenCache is a bounded LRU cache of token verification results: the
// identity of a valid token, or the error of a rejected one. Each entry
// lives until expiresUnix or until it is evicted. A capacity of 0 or less
// disables it.
// It is safe for concurrent use.
type tokenCache struct {
	mu       sync.Mutex
	capacity int
	entries  map[tokenKey]*list.Element
	order    list.List // front is the most recently used
}

type cacheEntry struct {
	key tokenKey
	// expiresUnix is the last Unix second the entry is valid.
	expiresUnix int64
	result      verification
}

// verification is the result of verifying one token: its identity, or the
// error that rejected it.
type verification struct {
	identity tokenIdentity
	err      error
}

func newTokenCache(capacity int) *tokenCache {
	return &tokenCache{capacity: capacity, entries: make(map[tokenKey]*list.Element)}
}

// get returns the result cached for key, unless it expired before nowUnix.
func (c *tokenCache) get(key tokenKey, nowUnix int64) (verification, bool) {
	if c.capacity <= 0 {
		return verification{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	element, ok := c.entries[key]
	if !ok {
		return verification{}, false
	}
	entry := element.Value.(*cacheEntry)
	if nowUnix > entry.expiresUnix {
		c.order.Remove(element)
		delete(c.entries, key)
		return verification{}, false
	}
	c.order.MoveToFront(element)
	return entry.result, true
}

// put stores result under key and evicts the least recently used entry when
// the cache is full.
func (c *tokenCache) put(key tokenKey, expiresUnix int64, result verification) {
	if c.capacity <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if element, ok := c.entries[key]; ok {
		entry := element.Value.(*cacheEntry)
		entry.expiresUnix = expiresUnix
		entry.result = result
		c.order.MoveToFront(element)
		return
	}
	if c.order.Len() >= c.capacity {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	entry := &cacheEntry{key: key, expiresUnix: expiresUnix, result: result}
	c.entries[key] = c.order.PushFront(entry)
}

// purge drops every entry, for example after the JWKS changed and a key
// may have been revoked.
func (c *tokenCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.order.Init()
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
