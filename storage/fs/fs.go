// Package fs is the local-folder backend of storage.Store, the embedded
// default: no server to run, objects live under one directory.
//
// Layout under the directory:
//
//	sha256/ab/ab12...   one file per object, named by its key
//	tmp/put-*           uploads in progress (same filesystem, so rename is atomic)
//
// Object files are read-only (mode 0400) and every Get re-hashes what it
// reads. That is the whole of the protection here: a folder offers no WORM
// retention, so whoever can write the directory can still delete or
// replace a file; verification then reports it (storage.ErrCorrupt, or
// the object missing), it cannot prevent it. Use storage/s3 with S3 Object
// Lock for retention the store enforces.
//
// A Put is crash-safe: the bytes are written to a temporary file, fsynced,
// renamed into place and the directory fsynced, so after a crash an object
// is either absent or complete. A temporary file left by a crash is never
// visible as an object.
package fs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/trialgate/trialgate/storage"
)

// Store is a storage.Store on a local directory. It is safe for concurrent
// use, including by several processes sharing the directory.
type Store struct {
	dir string // absolute root
	tmp string // dir/tmp
}

var _ storage.Store = (*Store)(nil)

// copyBufSize is the chunk in which Put copies; large enough that syscalls
// are not the bottleneck, small enough to be irrelevant to memory.
const copyBufSize = 256 << 10

// New returns a Store rooted at dir, creating the directory (and its
// sub-directories) if missing.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage/fs: resolve %q: %w", dir, err)
	}
	s := &Store{dir: abs, tmp: filepath.Join(abs, "tmp")}
	for _, d := range []string{abs, filepath.Join(abs, "sha256"), s.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("storage/fs: create %s: %w", d, err)
		}
	}
	// Make the freshly created directory entries durable before any object
	// is renamed into them.
	for _, d := range []string{filepath.Dir(abs), abs} {
		if err := syncDir(d); err != nil {
			return nil, fmt.Errorf("storage/fs: %w", err)
		}
	}
	return s, nil
}

// path returns the file of a key already checked by storage.ParseKey, whose
// strict form (hex and two slashes) cannot climb out of the directory.
func (s *Store) path(key string) string {
	return filepath.Join(s.dir, filepath.FromSlash(key))
}

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, r io.Reader) (storage.Object, error) {
	if err := ctx.Err(); err != nil {
		return storage.Object{}, fmt.Errorf("storage/fs: put: %w", err)
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return storage.Object{}, ioError("put: create temporary file", err)
	}
	tmpName := f.Name()
	defer func() {
		// Cleanup on every path; after a successful rename tmpName is "".
		if f != nil {
			f.Close()
		}
		if tmpName != "" {
			os.Remove(tmpName)
		}
	}()

	h := sha256.New()
	n, err := copyHashing(ctx, f, h, r)
	if err != nil {
		return storage.Object{}, err
	}
	// Objects are immutable: read-only files refuse an accidental
	// overwrite (though not an owner's chmod, nor root; the hash does).
	if err := f.Chmod(0o400); err != nil {
		return storage.Object{}, ioError("put: make temporary file read-only", err)
	}
	if err := f.Sync(); err != nil {
		return storage.Object{}, ioError("put: sync temporary file", err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return storage.Object{}, ioError("put: close temporary file", err)
	}

	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	obj := storage.ObjectOf(sum, n)
	final := s.path(obj.Key)

	// An existing file of the right size was renamed into place complete,
	// so it holds these bytes: keep it rather than rewrite it. A wrong size
	// can only be damage, which the fresh copy repairs.
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == n {
		return obj, nil
	}

	shard := filepath.Dir(final)
	if err := os.Mkdir(shard, 0o750); err == nil {
		if err := syncDir(filepath.Dir(shard)); err != nil {
			return storage.Object{}, ioError("put", err)
		}
	} else if !errors.Is(err, os.ErrExist) {
		return storage.Object{}, ioError("put: create shard directory", err)
	}
	if err := os.Rename(tmpName, final); err != nil {
		return storage.Object{}, ioError("put: rename into place", err)
	}
	tmpName = ""
	if err := syncDir(shard); err != nil {
		return storage.Object{}, ioError("put", err)
	}
	return obj, nil
}

// copyHashing copies r to f and h until EOF, checking ctx between chunks so
// an abandoned upload stops promptly. Errors from r are returned wrapped but
// unclassified, so a code the caller's reader carries (too large, client
// gone) survives; errors writing f are classified by the store.
func copyHashing(ctx context.Context, f *os.File, h io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, copyBufSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("storage/fs: put: %w", err)
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			h.Write(buf[:m]) // a hash.Hash never returns an error
			if _, err := f.Write(buf[:m]); err != nil {
				return n, ioError("put: write temporary file", err)
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("storage/fs: put: read input: %w", rerr)
		}
	}
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	sum, err := storage.ParseKey(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage/fs: get: %w", err)
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, storage.NotFound(key, nil)
	}
	if err != nil {
		return nil, ioError("get", err)
	}
	return storage.Verify(f, key, sum), nil
}

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	sum, err := storage.ParseKey(key)
	if err != nil {
		return storage.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Object{}, fmt.Errorf("storage/fs: stat: %w", err)
	}
	fi, err := os.Stat(s.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return storage.Object{}, storage.NotFound(key, nil)
	}
	if err != nil {
		return storage.Object{}, ioError("stat", err)
	}
	return storage.ObjectOf(sum, fi.Size()), nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := storage.ParseKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage/fs: delete: %w", err)
	}
	p := s.path(key)
	err := os.Remove(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return ioError("delete", err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return ioError("delete", err)
	}
	return nil
}

// Ping implements storage.Store: the directory must still exist and be a
// directory (a vanished mount is the usual failure).
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage/fs: ping: %w", err)
	}
	for _, d := range []string{s.dir, s.tmp} {
		fi, err := os.Stat(d)
		if err != nil {
			return storage.Unavailable("storage/fs: ping", err)
		}
		if !fi.IsDir() {
			return storage.Unavailable("storage/fs: ping", fmt.Errorf("%s is not a directory", d))
		}
	}
	return nil
}

// ioError classifies a filesystem error: a full disk clears when space is
// freed, so it is unavailable (retry later); anything else (permissions, a
// broken disk) needs an operator and stays internal.
func ioError(op string, err error) error {
	// The store's own folders missing (an unmounted volume), full, read-only
	// or failing: the store is down, not the request wrong.
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.ENOENT, syscall.EROFS, syscall.EIO, syscall.EACCES} {
		if errors.Is(err, e) {
			return storage.Unavailable("storage/fs: "+op, err)
		}
	}
	return fmt.Errorf("storage/fs: %s: %w", op, err)
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
