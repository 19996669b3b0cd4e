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
//
// WORM: unless Config.Retention is RetentionOff, the bucket must have S3
// Object Lock enabled (New creates a missing bucket so), which makes it
// versioned. Retain places Object Lock retention on every version of an
// object; the store itself then refuses to delete any of those versions,
// and an overwrite only adds a newer version (which Get's hash check
// reports) while the retained one stays. Unretain lifts GOVERNANCE
// retention with the bypass permission; COMPLIANCE retention cannot be
// lifted by anyone until it expires. Delete removes every version of a key,
// so garbage collection leaves nothing behind in a versioned bucket.
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
	// Retention is the S3 Object Lock mode Retain places:
	// RetentionGovernance (also when empty), RetentionCompliance, or
	// RetentionOff, which needs no object locking on the bucket and
	// makes Retain fail.
	Retention string
	// RetainFor is how long retention lasts from when Retain places it;
	// zero means DefaultRetainFor.
	RetainFor time.Duration
}

// Retention modes of Config.Retention.
const (
	RetentionGovernance = "governance"
	RetentionCompliance = "compliance"
	RetentionOff        = "off"
)

// DefaultRetainFor is 25 years, the archiving period the EU Clinical
// Trials Regulation (Article 58) sets for a trial master file.
const DefaultRetainFor = 25 * 365 * 24 * time.Hour

// Store is a storage.Store on one S3 bucket. It is safe for concurrent use.
type Store struct {
	client *minio.Client
	bucket string
	region string
	// mode is the Object Lock mode Retain places, "" when retention is
	// off; retainFor its duration.
	mode      minio.RetentionMode
	retainFor time.Duration
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
	case cfg.RetainFor < 0:
		return nil, fmt.Errorf("storage/s3: config: retention period %v is negative", cfg.RetainFor)
	}
	var mode minio.RetentionMode
	switch strings.ToLower(cfg.Retention) {
	case "", RetentionGovernance:
		mode = minio.Governance
	case RetentionCompliance:
		mode = minio.Compliance
	case RetentionOff:
	default:
		return nil, fmt.Errorf("storage/s3: config: retention %q: want %s, %s or %s",
			cfg.Retention, RetentionGovernance, RetentionCompliance, RetentionOff)
	}
	if cfg.RetainFor == 0 {
		cfg.RetainFor = DefaultRetainFor
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
	s := &Store{client: client, bucket: cfg.Bucket, region: cfg.Region, mode: mode, retainFor: cfg.RetainFor}
	s.parts.New = func() any { b := make([]byte, PartSize); return &b }
	return s, nil
}

func (s *Store) ensureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return classify("check bucket", "", err)
	}
	if !ok {
		err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region, ObjectLocking: s.mode != ""})
		// Another replica starting at the same moment may have won the race.
		if err != nil && minio.ToErrorResponse(err).Code != minio.BucketAlreadyOwnedByYou {
			return classify("create bucket", "", err)
		}
	}
	if s.mode == "" {
		return nil
	}
	// Object locking can only be chosen when a bucket is created; a
	// bucket without it would make every Retain fail, so say so now.
	enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.bucket)
	if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
		return classify("check bucket object lock", "", err)
	}
	if enabled != "Enabled" {
		return fmt.Errorf("storage/s3: bucket %q has no S3 Object Lock, so locked data cannot get WORM retention: "+
			"use a bucket created with object locking (mc mb --with-lock), or set retention off", s.bucket)
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
		// Removing the version itself leaves no delete marker (nor the
		// bytes under it) behind in a versioned bucket.
		return s.client.RemoveObject(ctx, s.bucket, tmp, minio.RemoveObjectOptions{VersionID: info.VersionID})
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

// Delete implements storage.Store: it removes every version of the key
// (and any delete marker), so nothing of the object remains. A version
// under retention is refused by the store: storage.ErrRetained, and the
// versions before it may already be gone. Deleting a missing object
// succeeds, which is the contract.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := storage.ParseKey(key); err != nil {
		return err
	}
	versions, err := s.versions(ctx, "delete", key, true)
	if err != nil {
		return err
	}
	for _, v := range versions {
		err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: v})
		if err != nil {
			return s.refused(ctx, "delete", key, v, err)
		}
	}
	return nil
}

// Retain places Object Lock retention (the configured mode, for the
// configured period from now) on every version of the object. A version
// already retained at least as long keeps its retention: S3 never
// shortens it.
func (s *Store) Retain(ctx context.Context, key string) (storage.Retention, error) {
	if _, err := storage.ParseKey(key); err != nil {
		return storage.Retention{}, err
	}
	if s.mode == "" {
		return storage.Retention{}, errors.New("storage/s3: retain: retention is off for this store")
	}
	until := time.Now().Add(s.retainFor).UTC().Truncate(time.Second)
	versions, err := s.versions(ctx, "retain", key, false)
	if err != nil {
		return storage.Retention{}, err
	}
	if len(versions) == 0 {
		return storage.Retention{}, storage.NotFound(key, nil)
	}
	for _, v := range versions {
		err := s.client.PutObjectRetention(ctx, s.bucket, key,
			minio.PutObjectRetentionOptions{Mode: &s.mode, RetainUntilDate: &until, VersionID: v})
		if err == nil {
			continue
		}
		mode, u, gerr := s.client.GetObjectRetention(ctx, s.bucket, key, v)
		if gerr != nil || mode == nil || u == nil || u.Before(until) || (*mode == minio.Governance && s.mode == minio.Compliance) {
			return storage.Retention{}, classify("retain", key, err)
		}
	}
	return storage.Retention{Mode: string(s.mode), Until: until}, nil
}

// Unretain lifts GOVERNANCE retention from every version of the object
// (with the bypass permission the credentials must hold). COMPLIANCE
// retention cannot be lifted: storage.ErrRetained, naming its end.
func (s *Store) Unretain(ctx context.Context, key string) error {
	if _, err := storage.ParseKey(key); err != nil {
		return err
	}
	versions, err := s.versions(ctx, "unretain", key, false)
	if err != nil {
		return err
	}
	for _, v := range versions {
		mode, until, err := s.client.GetObjectRetention(ctx, s.bucket, key, v)
		switch {
		case minio.ToErrorResponse(err).Code == "NoSuchObjectLockConfiguration":
			continue
		case err != nil:
			return classify("unretain", key, err)
		case mode != nil && *mode == minio.Compliance && until != nil && until.After(time.Now()):
			return storage.Retained("unretain", key, fmt.Errorf("COMPLIANCE retention until %s", until.UTC().Format(time.RFC3339)))
		}
		if err := s.client.PutObjectRetention(ctx, s.bucket, key,
			minio.PutObjectRetentionOptions{GovernanceBypass: true, VersionID: v}); err != nil {
			return s.refused(ctx, "unretain", key, v, err)
		}
	}
	return nil
}

// versions lists the version IDs of key, newest first: "null" for an
// object written while versioning was off; delete markers only with
// markers.
func (s *Store) versions(ctx context.Context, op, key string, markers bool) ([]string, error) {
	var ids []string
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		if o.Err != nil {
			return nil, classify(op+": list versions", key, o.Err)
		}
		if o.Key == key && (markers || !o.IsDeleteMarker) {
			ids = append(ids, o.VersionID)
		}
	}
	return ids, nil
}

// refused classifies the failure of a change to one version of key: a
// version under retention in force is storage.ErrRetained (S3 answers
// AccessDenied, MinIO InvalidRequest; neither alone says why).
func (s *Store) refused(ctx context.Context, op, key, version string, err error) error {
	if code := minio.ToErrorResponse(err).Code; code == "AccessDenied" || code == "InvalidRequest" {
		mode, until, gerr := s.client.GetObjectRetention(ctx, s.bucket, key, version)
		if gerr == nil && mode != nil && until != nil && until.After(time.Now()) {
			return storage.Retained(op, key, fmt.Errorf("%s retention until %s: %w", *mode, until.UTC().Format(time.RFC3339), err))
		}
	}
	return classify(op, key, err)
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
