package dicom

import "encoding/binary"

// undefinedLength is the length value of sequences, items and
// encapsulated Pixel Data whose end is marked by a delimiter.
const undefinedLength = 0xFFFFFFFF

// longVR reports whether vr has a 4-byte length (after two reserved
// bytes) in explicit VR encodings, PS3.5 7.1.2.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// validVR reports whether b holds two upper-case letters, the shape of
// every VR. Anything else means the reader has lost its place.
func validVR(b []byte) bool {
	return len(b) == 2 && b[0] >= 'A' && b[0] <= 'Z' && b[1] >= 'A' && b[1] <= 'Z'
}

// swapSize is the size of the units whose byte order differs between
// little- and big-endian encodings of vr, or 0 when vr is a byte string.
func swapSize(vr string) int {
	switch vr {
	case "US", "SS", "OW", "AT":
		return 2
	case "UL", "SL", "FL", "OL", "OF":
		return 4
	case "FD", "SV", "UV", "OD", "OV":
		return 8
	}
	return 0
}

// swapInPlace reverses the byte order of each unit of v's value
// representation. A trailing partial unit is left alone.
func swapInPlace(vr string, v []byte) { swapUnits(v, swapSize(vr)) }

// swapUnits reverses the byte order of each n-byte unit of v. A trailing
// partial unit is left alone.
func swapUnits(v []byte, n int) {
	switch {
	case n < 2:
		return
	case n == 2: // OW Pixel Data: worth swapping four words at a time
		i := 0
		for ; i+8 <= len(v); i += 8 {
			x := binary.LittleEndian.Uint64(v[i:])
			binary.LittleEndian.PutUint64(v[i:], (x&0x00FF00FF00FF00FF)<<8|(x>>8)&0x00FF00FF00FF00FF)
		}
		for ; i+1 < len(v); i += 2 {
			v[i], v[i+1] = v[i+1], v[i]
		}
		return
	}
	for i := 0; i+n <= len(v); i += n {
		u := v[i : i+n]
		for a, b := 0, n-1; a < b; a, b = a+1, b-1 {
			u[a], u[b] = u[b], u[a]
		}
	}
}

// isPixelTag reports whether t is one of the top-level pixel data
// elements that Parse stops before.
func isPixelTag(t Tag) bool {
	return t == PixelData || t == FloatPixelData || t == DoubleFloatPixelData
}
