package dataset

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Feature names of the image classification records graft reads, as
// TensorFlow's (slim, TF Hub, TFDS) image data sets write them.
const (
	FeatureEncoded = "image/encoded"
	FeatureLabel   = "image/class/label"
	FeatureText    = "image/class/text"
)

// Feature is one value of a tf.train.Example: a bytes, float or int64
// list (the proto's oneof; at most one is non-nil).
type Feature struct {
	Bytes  [][]byte
	Floats []float32
	Int64s []int64
}

// Example is a decoded tf.train.Example: its features by name.
type Example map[string]Feature

// EncodeExample encodes a tf.train.Example with the encoded image under
// image/encoded, the label under image/class/label and, when text is not
// empty, the class name under image/class/text. The encoding is
// deterministic (features sorted by name; packed int64 list), as
// TensorFlow's serializer writes it.
func EncodeExample(encoded []byte, label int64, text string) []byte {
	ex := Example{
		FeatureEncoded: {Bytes: [][]byte{encoded}},
		FeatureLabel:   {Int64s: []int64{label}},
	}
	if text != "" {
		ex[FeatureText] = Feature{Bytes: [][]byte{[]byte(text)}}
	}
	return ex.Marshal()
}

// Marshal encodes the example in the wire format of tf.train.Example.
func (ex Example) Marshal() []byte {
	keys := make([]string, 0, len(ex))
	for k := range ex {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var features []byte
	for _, k := range keys {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, ex[k].marshal())
		features = protowire.AppendTag(features, 1, protowire.BytesType)
		features = protowire.AppendBytes(features, entry)
	}
	var out []byte
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, features)
	return out
}

func (f Feature) marshal() []byte {
	var list []byte
	var field protowire.Number
	switch {
	case f.Bytes != nil:
		field = 1
		for _, b := range f.Bytes {
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, b)
		}
	case f.Floats != nil:
		field = 2
		var packed []byte
		for _, v := range f.Floats {
			packed = protowire.AppendFixed32(packed, math.Float32bits(v))
		}
		if len(packed) > 0 {
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, packed)
		}
	case f.Int64s != nil:
		field = 3
		var packed []byte
		for _, v := range f.Int64s {
			packed = protowire.AppendVarint(packed, uint64(v))
		}
		if len(packed) > 0 {
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, packed)
		}
	default:
		return nil // a Feature with no kind set
	}
	var out []byte
	out = protowire.AppendTag(out, field, protowire.BytesType)
	out = protowire.AppendBytes(out, list)
	return out
}

// DecodeExample decodes a serialized tf.train.Example. Unknown fields are
// skipped; byte slices alias b. Malformed input is an ErrFormat error.
func DecodeExample(b []byte) (Example, error) {
	ex := Example{}
	err := eachField(b, "Example", func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return eachField(v, "Features", func(num protowire.Number, typ protowire.Type, entry []byte) error {
			if num != 1 || typ != protowire.BytesType {
				return nil
			}
			var key string
			var feat Feature
			err := eachField(entry, "Features.feature entry", func(num protowire.Number, typ protowire.Type, v []byte) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					key = string(v)
				case num == 2 && typ == protowire.BytesType:
					f, err := decodeFeature(v)
					if err != nil {
						return err
					}
					feat = f
				}
				return nil
			})
			if err != nil {
				return err
			}
			ex[key] = feat
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return ex, nil
}

func decodeFeature(b []byte) (Feature, error) {
	var f Feature
	err := eachField(b, "Feature", func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			f = Feature{Bytes: [][]byte{}}
			return eachField(v, "BytesList", func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num == 1 && typ == protowire.BytesType {
					f.Bytes = append(f.Bytes, v)
				}
				return nil
			})
		case 2:
			f = Feature{Floats: []float32{}}
			return eachField(v, "FloatList", func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num != 1 {
					return nil
				}
				switch typ {
				case protowire.Fixed32Type: // unpacked
					f.Floats = append(f.Floats, math.Float32frombits(uint32(v[0])|uint32(v[1])<<8|uint32(v[2])<<16|uint32(v[3])<<24))
				case protowire.BytesType: // packed
					for len(v) > 0 {
						x, n := protowire.ConsumeFixed32(v)
						if n < 0 {
							return fmt.Errorf("%w: FloatList: %v", ErrFormat, protowire.ParseError(n))
						}
						f.Floats = append(f.Floats, math.Float32frombits(x))
						v = v[n:]
					}
				}
				return nil
			})
		case 3:
			f = Feature{Int64s: []int64{}}
			return eachField(v, "Int64List", func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num != 1 {
					return nil
				}
				switch typ {
				case protowire.VarintType: // unpacked
					x, _ := protowire.ConsumeVarint(v)
					f.Int64s = append(f.Int64s, int64(x))
				case protowire.BytesType: // packed
					for len(v) > 0 {
						x, n := protowire.ConsumeVarint(v)
						if n < 0 {
							return fmt.Errorf("%w: Int64List: %v", ErrFormat, protowire.ParseError(n))
						}
						f.Int64s = append(f.Int64s, int64(x))
						v = v[n:]
					}
				}
				return nil
			})
		}
		return nil
	})
	return f, err
}

// eachField walks the fields of one message. For length-delimited fields
// fn gets the payload; for varint, fixed32 and fixed64 fields the raw
// value bytes (varint encoded, or little-endian); groups are skipped.
func eachField(b []byte, msg string, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %s: %v", ErrFormat, msg, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n >= 0 {
				v = b[:n]
			}
		}
		if n < 0 {
			return fmt.Errorf("%w: %s field %d: %v", ErrFormat, msg, num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// exampleImage returns the encoded image of a record.
func exampleImage(ex Example) ([]byte, error) {
	f, ok := ex[FeatureEncoded]
	if !ok {
		return nil, fmt.Errorf("%w: the record has no %s feature (it has %s)", ErrFormat, FeatureEncoded, featureNames(ex))
	}
	if len(f.Bytes) != 1 {
		return nil, fmt.Errorf("%w: feature %s must hold one bytes value, not %s", ErrFormat, FeatureEncoded, f.describe())
	}
	return f.Bytes[0], nil
}

// exampleLabel returns the label and the optional class text of a record.
func exampleLabel(ex Example) (int64, string, error) {
	f, ok := ex[FeatureLabel]
	if !ok {
		return 0, "", fmt.Errorf("%w: the record has no %s feature (it has %s)", ErrFormat, FeatureLabel, featureNames(ex))
	}
	if len(f.Int64s) != 1 {
		return 0, "", fmt.Errorf("%w: feature %s must hold one int64 value, not %s", ErrFormat, FeatureLabel, f.describe())
	}
	text := ""
	if t, ok := ex[FeatureText]; ok {
		if len(t.Bytes) != 1 {
			return 0, "", fmt.Errorf("%w: feature %s must hold one bytes value, not %s", ErrFormat, FeatureText, t.describe())
		}
		text = string(t.Bytes[0])
	}
	return f.Int64s[0], text, nil
}

func (f Feature) describe() string {
	switch {
	case f.Bytes != nil:
		return fmt.Sprintf("%d bytes value(s)", len(f.Bytes))
	case f.Floats != nil:
		return fmt.Sprintf("%d float value(s)", len(f.Floats))
	case f.Int64s != nil:
		return fmt.Sprintf("%d int64 value(s)", len(f.Int64s))
	}
	return "an empty feature"
}

func featureNames(ex Example) string {
	if len(ex) == 0 {
		return "no features"
	}
	names := make([]string, 0, len(ex))
	for k := range ex {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
