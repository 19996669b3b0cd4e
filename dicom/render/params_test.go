package render_test

import (
	"strings"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom/render"
)

func TestParseWindow(t *testing.T) {
	tests := []struct {
		in   string
		want render.Window
		bad  string // part of the error message; "" means valid
	}{
		{in: "40,400,LINEAR", want: render.Window{Center: 40, Width: 400, Function: render.Linear}},
		{in: "-600.5,1500,linear_exact", want: render.Window{Center: -600.5, Width: 1500, Function: render.LinearExact}},
		{in: " 50 , 0.5 , SIGMOID", want: render.Window{Center: 50, Width: 0.5, Function: render.Sigmoid}},
		{in: "40,400", want: render.Window{Center: 40, Width: 400, Function: render.Linear}},
		{in: "40,1,LINEAR", want: render.Window{Center: 40, Width: 1, Function: render.Linear}},
		{in: "", bad: "want center,width,function"},
		{in: "40", bad: "want center,width,function"},
		{in: "40,400,LINEAR,x", bad: "want center,width,function"},
		{in: "x,400", bad: `center "x"`},
		{in: "40,,LINEAR", bad: `width ""`},
		{in: "NaN,400", bad: "center"},
		{in: "40,Inf", bad: "width"},
		{in: "40,400,GAMMA", bad: `function "GAMMA"`},
		{in: "40,0.5,LINEAR", bad: "at least 1"},
		{in: "40,0,SIGMOID", bad: "above 0"},
		{in: "40,-5,LINEAR_EXACT", bad: "above 0"},
	}
	for _, tt := range tests {
		w, err := render.ParseWindow(tt.in)
		if tt.bad != "" {
			if trialgate.ErrorCode(err) != trialgate.EInvalid || !strings.Contains(trialgate.ErrorMessage(err), tt.bad) ||
				!strings.Contains(trialgate.ErrorMessage(err), "window") {
				t.Errorf("ParseWindow(%q): err %v, want EInvalid naming window and %q", tt.in, err, tt.bad)
			}
			continue
		}
		if err != nil || *w != tt.want {
			t.Errorf("ParseWindow(%q) = %+v, %v; want %+v", tt.in, w, err, tt.want)
		}
	}
}

func TestParseViewport(t *testing.T) {
	tests := []struct {
		in   string
		want render.Viewport
		bad  string
	}{
		{in: "512,512", want: render.Viewport{Width: 512, Height: 512}},
		{in: "0,128", want: render.Viewport{Height: 128}},
		{in: "128,128,10,20,100,200", want: render.Viewport{Width: 128, Height: 128, SX: 10, SY: 20, SW: 100, SH: 200}},
		{in: "128,128,,,-100,-200", want: render.Viewport{Width: 128, Height: 128, SW: -100, SH: -200}},
		{in: "128,128,5,,,", want: render.Viewport{Width: 128, Height: 128, SX: 5}},
		{in: "65535,65535", want: render.Viewport{Width: 65535, Height: 65535}},
		{in: "", bad: "want vw,vh"},
		{in: "512", bad: "want vw,vh"},
		{in: "1,2,3", bad: "want vw,vh"},
		{in: "1,2,3,4,5,6,7", bad: "want vw,vh"},
		{in: ",512", bad: `vw ""`},
		{in: "512,", bad: `vh ""`},
		{in: "-1,512", bad: `vw "-1"`},
		{in: "512,65536", bad: `vh "65536"`},
		{in: "512,512.5", bad: `vh "512.5"`},
		{in: "512,512,-1,0,10,10", bad: `sx "-1"`},
		{in: "512,512,0,x,10,10", bad: `sy "x"`},
		{in: "512,512,0,0,99999,10", bad: `sw "99999"`},
	}
	for _, tt := range tests {
		v, err := render.ParseViewport(tt.in)
		if tt.bad != "" {
			if trialgate.ErrorCode(err) != trialgate.EInvalid || !strings.Contains(trialgate.ErrorMessage(err), tt.bad) ||
				!strings.Contains(trialgate.ErrorMessage(err), "viewport") {
				t.Errorf("ParseViewport(%q): err %v, want EInvalid naming viewport and %q", tt.in, err, tt.bad)
			}
			continue
		}
		if err != nil || v != tt.want {
			t.Errorf("ParseViewport(%q) = %+v, %v; want %+v", tt.in, v, err, tt.want)
		}
	}
}

func TestParseQuality(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "75": 75, "100": 100, " 90": 90} {
		if q, err := render.ParseQuality(in); err != nil || q != want {
			t.Errorf("ParseQuality(%q) = %d, %v; want %d", in, q, err, want)
		}
	}
	for _, in := range []string{"", "0", "101", "-5", "50.5", "high"} {
		if _, err := render.ParseQuality(in); trialgate.ErrorCode(err) != trialgate.EInvalid || !strings.Contains(trialgate.ErrorMessage(err), "quality") {
			t.Errorf("ParseQuality(%q): err %v, want EInvalid naming quality", in, err)
		}
	}
}
