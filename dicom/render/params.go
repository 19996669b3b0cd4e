package render

import (
	"math"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate"
)

// VOI LUT functions (PS3.3 C.11.2.1.3), the values of Window.Function.
const (
	Linear      = "LINEAR"
	LinearExact = "LINEAR_EXACT"
	Sigmoid     = "SIGMOID"
)

// Window is a VOI window (PS3.3 C.11.2.1.2): Center and Width are in the
// units of the Modality LUT's output (Hounsfield units for CT, after
// Rescale Slope and Intercept), Function is Linear, LinearExact or
// Sigmoid; "" means Linear.
type Window struct {
	Center, Width float64
	Function      string
}

// valid reports whether w can be applied: a finite center and a width of
// at least 1 for LINEAR, above 0 for the other functions (C.11.2.1.2).
func (w Window) valid() bool {
	if math.IsNaN(w.Center) || math.IsInf(w.Center, 0) || math.IsNaN(w.Width) || math.IsInf(w.Width, 0) {
		return false
	}
	switch w.Function {
	case "", Linear:
		return w.Width >= 1
	case LinearExact, Sigmoid:
		return w.Width > 0
	}
	return false
}

// MaxViewport is the largest viewport width or height ParseViewport
// accepts, the largest Rows or Columns a DICOM image can have.
const MaxViewport = 65535

// Viewport selects the region of the frame to render and bounds the
// rendered image (PS3.18 8.3.5.1.3, viewport=vw,vh[,sx,sy,sw,sh]).
//
// The region starts at column SX and row SY and spans |SW| columns and
// |SH| rows; a zero SW or SH extends it to the right or bottom edge of the
// frame, so the zero Viewport renders the whole frame at its own size. A
// negative SW mirrors the region left to right, a negative SH top to
// bottom: the region still starts at SX, SY (PS3.18 says a negative width
// or height flips the image but not where the region then lies; keeping
// SX, SY as its top-left corner makes 0,0,-columns,-rows the whole frame
// rotated by 180 degrees). A region reaching outside the frame is an
// EInvalid error from Image.
//
// The region is scaled, its aspect ratio kept, to the largest size that
// fits within Width x Height, up or down; a zero Width or Height bounds
// nothing in that dimension.
type Viewport struct {
	Width, Height int
	SX, SY        int
	SW, SH        int
}

// ParseWindow parses the window query parameter, "center,width,function"
// (PS3.18 8.3.5.1.4). The function may be omitted ("center,width" means
// LINEAR) and is matched without regard to case. Anything else, or a width
// the function cannot use (below 1 for LINEAR, not above 0 otherwise), is
// an EInvalid error naming the parameter and its value.
func ParseWindow(s string) (*Window, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, trialgate.Errorf(trialgate.EInvalid, "window %q: want center,width,function", s)
	}
	c, err := parseFloat(parts[0])
	if err != nil {
		return nil, trialgate.Errorf(trialgate.EInvalid, "window %q: center %q is not a number", s, parts[0])
	}
	wd, err := parseFloat(parts[1])
	if err != nil {
		return nil, trialgate.Errorf(trialgate.EInvalid, "window %q: width %q is not a number", s, parts[1])
	}
	w := &Window{Center: c, Width: wd, Function: Linear}
	if len(parts) == 3 {
		switch f := strings.ToUpper(strings.TrimSpace(parts[2])); f {
		case Linear, LinearExact, Sigmoid:
			w.Function = f
		default:
			return nil, trialgate.Errorf(trialgate.EInvalid, "window %q: function %q is not LINEAR, LINEAR_EXACT or SIGMOID", s, parts[2])
		}
	}
	if !w.valid() {
		min := "above 0"
		if w.Function == Linear {
			min = "at least 1"
		}
		return nil, trialgate.Errorf(trialgate.EInvalid, "window %q: width must be %s for %s", s, min, w.Function)
	}
	return w, nil
}

// parseFloat parses a finite decimal number.
func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		err = strconv.ErrSyntax
	}
	return f, err
}

// ParseViewport parses the viewport query parameter: "vw,vh" or
// "vw,vh,sx,sy,sw,sh" (PS3.18 8.3.5.1.3), see Viewport. vw and vh are
// integers from 0 to MaxViewport; sx and sy non-negative integers and sw
// and sh integers, each of the four possibly empty (meaning 0). Anything
// else is an EInvalid error naming the parameter and its value.
func ParseViewport(s string) (Viewport, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 && len(parts) != 6 {
		return Viewport{}, trialgate.Errorf(trialgate.EInvalid, "viewport %q: want vw,vh or vw,vh,sx,sy,sw,sh", s)
	}
	names := []string{"vw", "vh", "sx", "sy", "sw", "sh"}
	var v [6]int
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" && i >= 2 {
			continue
		}
		n, err := strconv.Atoi(p)
		lo, hi := 0, MaxViewport
		if i >= 4 {
			lo = -MaxViewport
		}
		if err != nil || n < lo || n > hi {
			return Viewport{}, trialgate.Errorf(trialgate.EInvalid, "viewport %q: %s %q is not an integer from %d to %d", s, names[i], parts[i], lo, hi)
		}
		v[i] = n
	}
	return Viewport{Width: v[0], Height: v[1], SX: v[2], SY: v[3], SW: v[4], SH: v[5]}, nil
}

// ParseQuality parses the quality query parameter (PS3.18 8.3.5.1.2), an
// integer from 1 to 100; anything else is an EInvalid error.
func ParseQuality(s string) (int, error) {
	q, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || q < 1 || q > 100 {
		return 0, trialgate.Errorf(trialgate.EInvalid, "quality %q: want an integer from 1 to 100", s)
	}
	return q, nil
}
