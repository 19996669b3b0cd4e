"""Independent peer for the frame tests (dicom/frames_test.go).

For each DICOM file named on the command line, prints one JSON line
{"path": ..., "frames": [sha256 of each frame, hex]} computed with pydicom
(2.x), which shares no code with the Go package: frames of native Pixel
Data are its value cut in Rows*Columns*SamplesPerPixel*BitsAllocated/8
byte pieces, swapped to little endian for big-endian OW/OF/OD; frames of
encapsulated Pixel Data are what pydicom.encaps.generate_pixel_data_frame
yields (Basic Offset Table, fragment counting, or EOI markers at fragment
ends, which differs from the Go package's markers at fragment starts).

Run: /usr/bin/python3 dicom/testdata/frames_peer.py FILE...
"""
import hashlib
import json
import sys

import pydicom
from pydicom.encaps import generate_pixel_data_frame

for path in sys.argv[1:]:
    ds = pydicom.dcmread(path)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    px = ds.PixelData
    frames = []
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        frames = list(generate_pixel_data_frame(px, n))
    else:
        size = ds.Rows * ds.Columns * ds.get("SamplesPerPixel", 1) * ds.BitsAllocated // 8
        b = bytearray(px[: n * size])
        vr = ds["PixelData"].VR
        if not ds.is_little_endian and vr in ("OW", "OB or OW"):
            b[0::2], b[1::2] = b[1::2], b[0::2]
        frames = [bytes(b[i * size : (i + 1) * size]) for i in range(n)]
    print(json.dumps({"path": path, "frames": [hashlib.sha256(f).hexdigest() for f in frames]}))
