package dicom

// Default limits, used where a Limits field is zero.
const (
	DefaultMaxHeader = 64 << 20
	DefaultMaxDepth  = 32
)

// elementOverhead is what each element and item is charged against
// Limits.MaxHeader on top of its value, so that a header of millions of
// empty elements is bounded too.
const elementOverhead = 64

// Limits bound what Parse holds in memory. Pixel Data is never held, so
// it is not limited.
type Limits struct {
	// MaxHeader is the total size of element values (plus a small
	// per-element overhead) held in memory for the meta group, the data
	// set and the elements after Pixel Data. Zero means DefaultMaxHeader.
	MaxHeader int64
	// MaxDepth is the deepest sequence nesting accepted. Zero means
	// DefaultMaxDepth.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeader <= 0 {
		l.MaxHeader = DefaultMaxHeader
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}
