// Package s3 is the S3-compatible backend of storage.Store (MinIO, AWS S3),
// for deployments where several gateway replicas share one bucket. It is the
// only package that imports minio-go.
//
// Layout in the bucket:
//
//	sha256/ab/ab12...   one object per content address
//	tmp/<random>        uploads whose hash is not yet known
//
// The key of an object depends on the hash of all of its bytes, which is
// only known once the stream ends. An object that fits in one part
// (PartSize) is therefore hashed in memory first and written straight to its
// key. A larger one is streamed as a multipart upload to a temporary key
// while being hashed, then copied server-side to its content key, and the
// temporary object deleted. Memory per Put stays one part whatever the
// object's size.
//
// A crash between upload and cleanup leaves an object under tmp/ that no key
// can name. This package does not sweep them: configure a bucket lifecycle
// rule that expires tmp/ after a day (and aborts stale multipart uploads).
package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/storage"
)

// Config locates the bucket.
type Config struct {
	Endpoint  string // host[:port], no scheme, e.g. "127.0.0.1:9000" or "s3.eu-west-1.amazonaws.com"
	Bucket    string
	AccessKey string
	SecretKey string
	TLS       bool   // use https
	Region    string // optional; empty lets the client discover it
}

// Store is a storage.Store on one S3 bucket. It is safe for concurrent use.
type Store struct {
	client *minio.Client
	bucket string
	region string
	// parts recycles PartSize buffers, so a burst of small Puts does not
	// allocate a fresh 16 MiB each.
	parts sync.Pool
}

var _ storage.Store = (*Store)(nil)

const (
	// PartSize is the unit of upload: objects up to this size are sent in
	// one PUT, larger ones as multipart uploads of parts this size. It
	// bounds memory (one part per concurrent Put) and, with S3's
	// 10,000-part limit, the object size (MaxSize).
	PartSize = 16 << 20
	// MaxSize is the largest object Put accepts.
	MaxSize = PartSize * maxParts
	// maxParts is S3's limit on the parts of a multipart upload.
	maxParts = 10000
	// maxCopySize is the largest object a single server-side CopyObject may
	// copy; larger ones are copied part by part.
	maxCopySize = 5 << 30
	// cleanupTimeout bounds deleting a temporary object after the caller's
	// context has ended.
	cleanupTimeout = 30 * time.Second
	tmpPrefix      = "tmp/"
)

// New connects to the bucket described by cfg and creates it if missing.
// An unreachable endpoint yields an error with code trialgate.EUnavailable.
func New(ctx context.Context, cfg Config) (*Store, error) {
	s, err := newStore(cfg, 0)
	if err != nil {
		return nil, err
	}
	if err := s.ensureBucket(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// newStore builds the client without contacting the server. maxRetries 0
// keeps minio-go's default (retrying transient failures with backoff).
func newStore(cfg Config, maxRetries int) (*Store, error) {
	switch {
	case cfg.Endpoint == "":
		return nil, errors.New("storage/s3: config: endpoint is required")
	case strings.Contains(cfg.Endpoint, "://"):
		return nil, fmt.Errorf("storage/s3: config: endpoint %q must be host[:port] without a scheme (set TLS for https)", cfg.Endpoint)
	case cfg.Bucket == "":
		return nil, errors.New("storage/s3: config: bucket is required")
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.TLS,
		Region:     cfg.Region,
		MaxRetries: maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("storage/s3: config: %w", err)
	}
	s := &Store{client: client, bucket: cfg.Bucket, region: cfg.Region}
	s.parts.New = func() any { b := make([]byte, PartSize); return &b }
	return s, nil
}

func (s *Store) ensureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return classify("check bucket", "", err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
	// Another replica starting at the same moment may have won the race.
	if err != nil && minio.ToErrorResponse(err).Code != minio.BucketAlreadyOwnedByYou {
		return classify("create bucket", "", err)
	}
	return nil
}

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, r io.Reader) (storage.Object, error) {
	bufp := s.parts.Get().(*[]byte)
	defer s.parts.Put(bufp)
	buf := *bufp

	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return s.putSmall(ctx, buf[:n])
	case err != nil:
		return storage.Object{}, fmt.Errorf("storage/s3: put: read input: %w", err)
	}
	return s.putLarge(ctx, buf, r)
}

// putSmall stores an object that is entirely in memory: its key is known
// before anything is sent. Putting the same bytes again rewrites the same
// object, so no existence check (a round trip per object) is needed.
func (s *Store) putSmall(ctx context.Context, b []byte) (storage.Object, error) {
	obj := storage.ObjectOf(sha256.Sum256(b), int64(len(b)))
	_, err := s.client.PutObject(ctx, s.bucket, obj.Key, bytes.NewReader(b), int64(len(b)),
		minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return storage.Object{}, classify("put", obj.Key, err)
	}
	return obj, nil
}

// putLarge streams buf, which holds the first full part, and then the rest
// of r to a temporary key as a multipart upload, hashing it on the way, then
// copies it server-side to its content key. Each part is read into buf and
// sent from there: minio-go's own streaming upload would allocate a second
// part-sized buffer per Put.
func (s *Store) putLarge(ctx context.Context, buf []byte, r io.Reader) (storage.Object, error) {
	tmp, err := tmpKey()
	if err != nil {
		return storage.Object{}, err
	}
	core := minio.Core{Client: s.client}
	id, err := core.NewMultipartUpload(ctx, s.bucket, tmp, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return storage.Object{}, classify("put", tmp, err)
	}
	h := sha256.New()
	var size int64
	parts, err := func() ([]minio.CompletePart, error) {
		var parts []minio.CompletePart
		part := buf
		for {
			h.Write(part) // a hash.Hash never returns an error
			size += int64(len(part))
			p, err := core.PutObjectPart(ctx, s.bucket, tmp, id, len(parts)+1,
				bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{})
			if err != nil {
				return nil, classify("put", tmp, err)
			}
			parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
			n, err := io.ReadFull(r, buf)
			switch {
			case err == io.EOF:
				return parts, nil
			case err != nil && err != io.ErrUnexpectedEOF:
				// The caller's reader failed (client gone, size limit):
				// its error, not the store's, explains the failure.
				return nil, fmt.Errorf("storage/s3: put: read input: %w", err)
			case len(parts) == maxParts:
				return nil, trialgate.Errorf(trialgate.ETooLarge, "object exceeds the store's limit of %d bytes", int64(MaxSize))
			}
			part = buf[:n]
		}
	}()
	var info minio.UploadInfo
	if err == nil {
		info, err = core.CompleteMultipartUpload(ctx, s.bucket, tmp, id, parts, minio.PutObjectOptions{})
		if err != nil {
			err = classify("put: complete upload", tmp, err)
		}
	}
	if err != nil {
		s.cleanup(ctx, func(ctx context.Context) error { return core.AbortMultipartUpload(ctx, s.bucket, tmp, id) })
		return storage.Object{}, err
	}
	defer s.cleanup(ctx, func(ctx context.Context) error {
		return s.client.RemoveObject(ctx, s.bucket, tmp, minio.RemoveObjectOptions{})
	})

	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	obj := storage.ObjectOf(sum, size)
	if exists, err := s.exists(ctx, obj.Key); err != nil {
		return storage.Object{}, err
	} else if exists {
		return obj, nil
	}
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: obj.Key}
	// MatchETag makes the copy fail rather than copy anything but the bytes
	// just uploaded and hashed.
	src := minio.CopySrcOptions{Bucket: s.bucket, Object: tmp, MatchETag: info.ETag}
	if obj.Size <= maxCopySize {
		_, err = s.client.CopyObject(ctx, dst, src)
	} else {
		_, err = s.client.ComposeObject(ctx, dst, src)
	}
	if err != nil {
		return storage.Object{}, classify("put: copy to content key", obj.Key, err)
	}
	return obj, nil
}

// cleanup removes what a Put left behind (an aborted upload, a temporary
// object), even when ctx has been cancelled: a client hanging up must not
// leave it behind. If that fails too, the bucket's lifecycle rule (see the
// package doc) removes it later.
func (s *Store) cleanup(ctx context.Context, remove func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = remove(ctx)
}

func tmpKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("storage/s3: put: temporary key: %w", err)
	}
	return tmpPrefix + hex.EncodeToString(b[:]), nil
}

// exists reports whether key names an object.
func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	_, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	err = classify("stat", key, err)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return false, err
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	sum, err := storage.ParseKey(key)
	if err != nil {
		return nil, err
	}
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, classify("get", key, err)
	}
	// GetObject is lazy; Stat sends the request, so a missing object is
	// reported here rather than at the first Read.
	if _, err := o.Stat(); err != nil {
		o.Close()
		return nil, classify("get", key, err)
	}
	return storage.Verify(&body{o: o, key: key}, key, sum), nil
}

// body classifies errors that happen while an object is being streamed, such
// as the connection dropping.
type body struct {
	o   *minio.Object
	key string
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.o.Read(p)
	if err != nil && err != io.EOF {
		err = classify("get", b.key, err)
	}
	return n, err
}

func (b *body) Close() error { return b.o.Close() }

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	sum, err := storage.ParseKey(key)
	if err != nil {
		return storage.Object{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return storage.Object{}, classify("stat", key, err)
	}
	return storage.ObjectOf(sum, info.Size), nil
}

// Delete implements storage.Store. S3 treats deleting a missing object as
// success, which is the contract.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := storage.ParseKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return classify("delete", key, err)
	}
	return nil
}

// Ping implements storage.Store: the endpoint answers and the bucket exists.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return classify("ping", "", err)
	}
	if !ok {
		return storage.Unavailable("storage/s3: ping", fmt.Errorf("bucket %q does not exist", s.bucket))
	}
	return nil
}

// classify turns a minio-go error into one a caller can act on: a missing
// key is not found; a server that cannot be reached, is overloaded or lost
// the bucket is unavailable (retry later); anything else (credentials,
// TLS, a bug) is internal and needs an operator.
func classify(op, key string, err error) error {
	op = "storage/s3: " + op
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == minio.NoSuchKey:
		return storage.NotFound(key, err)
	case resp.Code == minio.NoSuchBucket,
		resp.Code == "SlowDown", resp.Code == "ServiceUnavailable",
		resp.Code == "XMinioServerNotInitialized",
		resp.StatusCode == 429, resp.StatusCode >= 500:
		return storage.Unavailable(op, err)
	case errors.Is(err, context.Canceled):
		// The caller gave up; nothing is wrong with the store.
		return fmt.Errorf("%s: %w", op, err)
	case unreachable(err):
		return storage.Unavailable(op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unreachable reports whether err means the network path to the server
// failed (refused, reset, timed out, name not resolved), as opposed to the
// server answering with an error.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var netErr net.Error
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}
