// Package dicom reads and writes DICOM Part 10 files for the gateway:
// a streaming header parser that stops at Pixel Data, a writer that
// re-encodes the (possibly de-identified) header and copies Pixel Data
// byte for byte, a transcoder between the native transfer syntaxes
// (WriteAs), a frame reader for WADO-RS frame retrieval (ReadFrames),
// the tag dictionary, and the DICOM JSON model (PS3.18 Annex F) used for
// QIDO-RS and WADO-RS metadata.
//
// # Why its own element reader
//
// The gateway must never decode, re-encode or buffer pixel data: a
// de-identified instance carries the original Pixel Data bytes exactly,
// and memory must not grow with instance size (DESIGN.md section 8).
// github.com/suyashkumar/dicom's parser buffers its input, decodes every
// value and cannot report where Pixel Data starts, so this package reads
// elements itself: Parse holds the header in memory and leaves the source
// positioned at the top-level Pixel Data element; Object.Write streams
// that element (native, or encapsulated fragment by fragment) through a
// fixed-size buffer and then writes the elements that follow it.
// suyashkumar/dicom supplies the data dictionary (Lookup, TagForKeyword)
// and character set decoders, and serves the tests as an independent
// reader of what Write produces. No other package imports it.
//
// # Model
//
// A Dataset is a sorted list of Elements holding raw value bytes (padding
// included); binary values of big-endian data sets are held little
// endian. Group length elements (gggg,0000) are dropped when reading and
// recomputed only for the meta group when writing. Sequences and items
// are always written with undefined length. A UN element of undefined
// length is read as the sequence it is (implicit VR little endian, PS3.5
// 6.2.2) and written as SQ.
//
// # Limits
//
// Limits.MaxHeader (default 64 MiB) bounds the bytes of element values
// held in memory, charged as they are read (plus a small per-element
// overhead), so a forged length fails with ErrTooLarge before anything
// is allocated for it; values are read in chunks, so a length larger
// than the input costs no more than the input. Limits.MaxDepth (default
// 32) bounds sequence nesting. Pixel Data is never held in memory.
// Offsets in error messages count bytes of the decoded stream: for the
// deflated syntax, bytes after the meta group are counted inflated.
//
// # Transfer syntaxes
//
// Implicit VR little endian, explicit VR little and big endian, deflated
// explicit VR little endian, and the encapsulated syntaxes (JPEG, JPEG-LS,
// JPEG 2000, HTJ2K, JPEG XL, RLE, MPEG-2/4, HEVC, deflated image frame
// compression), whose Pixel Data is copied without being looked into.
// Any other transfer syntax is ErrUnsupported.
//
// WriteAs re-encodes a parsed object in another native syntax (implicit,
// explicit or deflated explicit VR little endian; big endian only as a
// source), streaming Pixel Data and swapping its byte order on the way
// when it must; encapsulated Pixel Data is never decoded, so those
// syntaxes go only to themselves (CanTranscode). ReadFrames streams
// single frames of native or encapsulated Pixel Data, delimited by the
// image geometry, the offset tables or the codestreams' start markers;
// Syntax.FrameMediaType names their media type for PS3.18.
package dicom
