// Package codec decodes frames of the lossless compressed transfer
// syntaxes to native pixel data, so that the gateway can answer a
// WADO-RS request for uncompressed frames (PS3.18 8.7.3:
// application/octet-stream, Explicit VR Little Endian) of an object
// stored compressed. It uses the standard library only; both decoders
// are written from the standards.
//
// # What it decodes
//
// RLE Lossless (1.2.840.10008.1.2.5, PS3.5 Annex G): any Samples per
// Pixel and Bits Allocated that are a multiple of 8, up to the 15
// segments an RLE header can hold (3 samples of 32 bits at most).
//
// JPEG Lossless, Non-Hierarchical (Process 14, 1.2.840.10008.1.2.4.57)
// and its First-Order Prediction subset (Selection Value 1,
// 1.2.840.10008.1.2.4.70), ITU-T T.81 Annex H: Huffman coding, the seven
// predictors, any point transform, restart intervals, precision 2 to 16
// bits, one to four components, interleaved or in separate scans. A .70
// stream whose scan uses another predictor is decoded all the same.
//
// Not decoded (an error wrapping dicom.ErrUnsupported): every other
// transfer syntax (the lossy JPEG processes, JPEG-LS, JPEG 2000, HTJ2K,
// JPEG XL, video, Deflated Image Frame Compression); JPEG arithmetic
// coding, hierarchical or DCT processes found inside a lossless syntax;
// components with different sampling factors; a frame height left to a
// DNL marker; a JPEG precision above Bits Allocated; Bits Allocated that
// is not a multiple of 8 (1-bit images).
//
// # What Decode returns
//
// One frame laid out as the same object's Pixel Data would be in
// Explicit VR Little Endian: Rows × Columns × Samples per Pixel samples
// of Bits Allocated / 8 bytes each, little endian (FrameSize bytes; an
// odd length is not padded, that is the writer's business). RLE output
// follows the header's Planar Configuration (RLE segments are planes
// whatever the header says, PS3.5 8.2.2); JPEG output is always
// interleaved (color-by-pixel). A JPEG sample of precision P below Bits
// Allocated is written as decoded (its point transform undone), the bits
// above P zero, or copies of bit P-1 when Pixel Representation is 1, so
// that a signed value reads the same however wide the reader takes it.
// RLE reproduces every byte of the original, unused high bits included.
//
// # Header changes
//
// Writing a decoded object as Explicit VR Little Endian changes its
// header only where the encapsulated encoding differs from the native
// one; NativeHeader makes exactly these changes:
//
//   - Transfer Syntax UID (0002,0010) in the file meta group;
//   - Planar Configuration (0028,0006) 0 for JPEG when Samples per Pixel
//     is above 1 (RLE keeps the header's value, which Decode follows);
//   - Photometric Interpretation YBR_FULL_422 becomes YBR_FULL: both
//     decoders return every sample of every pixel, so the native layout
//     of YBR_FULL_422 (chroma shared by pixel pairs) does not describe it;
//   - the Extended Offset Table (7FE0,0001) and its Lengths (7FE0,0002),
//     which locate compressed fragments, are removed.
//
// Nothing else changes: Bits Allocated, Bits Stored, High Bit, Pixel
// Representation and Lossy Image Compression (0028,2110) and its ratio
// and method describe the pixels, which decoding leaves as they were.
//
// # Bounds
//
// Work is linear in the frame's length plus its decoded size. The only
// allocation that grows with the image is the decoded frame (and, for
// JPEG, two lines of samples); JPEG Huffman lookup tables are built only
// for the at most four components a frame has, however many tables the
// stream defines. Before allocating the frame, Decode checks that the
// input could expand to it: every RLE segment holds at least 2 bytes per
// 128 it decodes to, and every JPEG sample costs at least one bit.
// Decode never panics on any input; its fuzz targets hold it to that.
package codec
