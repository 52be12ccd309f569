package tfjpeg

import "fmt"

// readScan reads a scan header (T.81 B.2.3) and decodes its
// entropy-coded data (and restart markers) that follow.
func (d *decoder) readScan(s []byte) error {
	d.scans++
	if d.scans > maxScans {
		return fmt.Errorf("%w: more than %d scans", ErrUnsupported, maxScans)
	}
	if len(s) < 1 {
		return fmt.Errorf("%w: scan header too short", ErrFormat)
	}
	ns := int(s[0])
	if ns < 1 || ns > 4 || len(s) != 4+2*ns {
		return fmt.Errorf("%w: scan header of %d components has length %d", ErrFormat, ns, len(s))
	}
	var comps []*component
	for i := 0; i < ns; i++ {
		id, tables := int(s[1+2*i]), s[2+2*i]
		var c *component
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return fmt.Errorf("%w: scan names component %d, not in the frame", ErrFormat, id)
		}
		c.dcTbl, c.acTbl = int(tables>>4), int(tables&15)
		if c.dcTbl > 3 || c.acTbl > 3 {
			return fmt.Errorf("%w: Huffman table ids %d/%d", ErrFormat, c.dcTbl, c.acTbl)
		}
		comps = append(comps, c)
	}
	if ns > 1 {
		blocks := 0
		for _, c := range comps {
			blocks += c.h * c.v
		}
		if blocks > 10 { // T.81 B.2.3, and libjpeg's limit
			return fmt.Errorf("%w: %d blocks in an MCU (at most 10)", ErrFormat, blocks)
		}
	}
	ss, se := int(s[1+2*ns]), int(s[2+2*ns])
	ah, al := uint(s[3+2*ns]>>4), uint(s[3+2*ns]&15)
	if d.progressive {
		if ss > se || se > 63 || ss == 0 && se != 0 || ss > 0 && ns != 1 || ah > 13 || al > 13 {
			return fmt.Errorf("%w: progressive scan Ss=%d Se=%d Ah=%d Al=%d over %d components", ErrFormat, ss, se, ah, al, ns)
		}
	} else {
		ss, se, ah, al = 0, 63, 0, 0 // libjpeg ignores them in sequential scans
	}
	// Latch each component's quantisation table at its first scan, as
	// libjpeg does, and check the tables the scan needs are there.
	for _, c := range comps {
		if !c.seen {
			q := d.quant[c.tq]
			if q == nil {
				return fmt.Errorf("%w: quantisation table %d is not defined", ErrFormat, c.tq)
			}
			c.qt, c.q = ifastTable(q), q
			c.seen = true
		}
		for k := ss; k <= min(se, len(c.bits)-1); k++ {
			c.bits[k] = int(al)
		}
		needDC := ss == 0 && ah == 0
		needAC := se > 0
		if needDC && d.dc[c.dcTbl] == nil || needAC && d.ac[c.acTbl] == nil {
			return fmt.Errorf("%w: scan uses an undefined Huffman table", ErrFormat)
		}
		if needDC {
			for _, v := range d.dc[c.dcTbl].vals {
				if v > 15 { // libjpeg refuses such a DC table
					return fmt.Errorf("%w: DC Huffman table with symbol %d", ErrFormat, v)
				}
			}
		}
		c.pred = 0
	}
	d.eobrun = 0
	d.bits = bitReader{data: d.data, pos: d.pos}

	// The MCUs: one block each in a single-component scan (over the
	// component's own blocks), h x v blocks of each component otherwise.
	var mx, my int
	if ns == 1 {
		mx, my = comps[0].bw, comps[0].bh
	} else {
		mx, my = d.mcusX, d.mcusY
	}
	var blk [64]int32
	n, rst := 0, 0
	for y := 0; y < my; y++ {
		for x := 0; x < mx; x++ {
			if d.restart > 0 && n > 0 && n%d.restart == 0 {
				d.nextRestart(&rst)
				for _, c := range comps {
					c.pred = 0
				}
				d.eobrun = 0
			}
			n++
			// Once a read has run past the segment's end, libjpeg
			// leaves the segment's later MCUs as they are (zero in a
			// sequential scan) instead of decoding zero bits.
			skip := d.bits.short
			for _, c := range comps {
				bx, by, nh, nv := x, y, 1, 1
				if ns > 1 {
					bx, by, nh, nv = x*c.h, y*c.v, c.h, c.v
				}
				for v := 0; v < nv; v++ {
					for h := 0; h < nh; h++ {
						var err error
						if d.progressive {
							co := c.coefs[64*((by+v)*c.stride/8+bx+h):][:64]
							switch {
							case skip && !(ss == 0 && ah > 0): // DC refinement reads on
							case ss == 0 && ah == 0:
								err = d.dcFirst(c, co, al)
							case ss == 0:
								d.dcRefine(co, al)
							case ah == 0:
								err = d.acFirst(c, co, ss, se, al)
							default:
								err = d.acRefine(c, co, ss, se, al)
							}
						} else {
							blk = [64]int32{}
							if !skip {
								err = d.sequential(c, &blk)
							}
							if err == nil {
								off := (by+v)*8*c.stride + (bx+h)*8
								idctIFAST(&blk, c.qt, c.plane[off:], c.stride)
							}
						}
						if err != nil {
							return err
						}
					}
				}
			}
		}
	}
	// Continue the marker walk where the entropy-coded data ended.
	d.pos = d.bits.pos
	if !d.bits.marker {
		for d.pos+1 < len(d.data) && !(d.data[d.pos] == 0xFF && d.data[d.pos+1] != 0 && d.data[d.pos+1] != 0xFF) {
			d.pos++
		}
	}
	return nil
}

// nextRestart discards the bits left before a restart marker and skips
// the marker (T.81 F.2.1.3.1); a missing one is not looked for further.
func (d *decoder) nextRestart(rst *int) {
	b := &d.bits
	b.acc, b.n, b.pad = 0, 0, 0
	if !b.marker {
		for b.pos+1 < len(b.data) && !(b.data[b.pos] == 0xFF && b.data[b.pos+1] != 0 && b.data[b.pos+1] != 0xFF) {
			b.pos++
		}
		for b.pos+1 < len(b.data) && b.data[b.pos+1] == 0xFF {
			b.pos++
		}
	}
	if b.pos+1 < len(b.data) && b.data[b.pos+1] >= 0xD0 && b.data[b.pos+1] <= 0xD7 {
		b.pos += 2
		b.marker, b.short = false, false
	}
	*rst = (*rst + 1) & 7
}

// sequential decodes one block of a baseline or extended scan (T.81
// F.2.2) into natural order.
func (d *decoder) sequential(c *component, blk *[64]int32) error {
	b := &d.bits
	t := b.decode(d.dc[c.dcTbl])
	if t > 16 {
		return fmt.Errorf("%w: DC magnitude category %d", ErrFormat, t)
	}
	c.pred += extend(b.receive(uint(t)), uint(t))
	blk[0] = int32(int16(c.pred)) // libjpeg keeps 16-bit coefficients
	ac := d.ac[c.acTbl]
	for k := 1; k < 64; {
		rs := b.decode(ac)
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if r != 15 {
				break
			}
			k += 16
			continue
		}
		k += r // past 63 only in corrupt data: lands on 63, as in libjpeg
		blk[zigzag[k]] = int32(int16(extend(b.receive(s), s)))
		k++
	}
	return nil
}

func (d *decoder) dcFirst(c *component, co []int16, al uint) error {
	b := &d.bits
	t := b.decode(d.dc[c.dcTbl])
	if t > 16 {
		return fmt.Errorf("%w: DC magnitude category %d", ErrFormat, t)
	}
	c.pred += extend(b.receive(uint(t)), uint(t))
	co[0] = int16(c.pred << al)
	return nil
}

func (d *decoder) dcRefine(co []int16, al uint) {
	if d.bits.receive(1) != 0 {
		co[0] |= 1 << al
	}
}

func (d *decoder) acFirst(c *component, co []int16, ss, se int, al uint) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	b := &d.bits
	ac := d.ac[c.acTbl]
	for k := ss; k <= se; {
		rs := b.decode(ac)
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if r < 15 {
				d.eobrun = 1<<r - 1
				if r > 0 {
					d.eobrun += int(b.receive(uint(r)))
				}
				break
			}
			k += 16
			continue
		}
		k += r
		if k > 63 {
			k = 63
		}
		co[zigzag[k]] = int16(extend(b.receive(s), s) << al)
		k++
	}
	return nil
}

// acRefine is the successive-approximation refinement of AC
// coefficients (T.81 G.1.2.3): new coefficients of magnitude 1 << al, and
// a correction bit for each coefficient already non-zero that it passes.
func (d *decoder) acRefine(c *component, co []int16, ss, se int, al uint) error {
	b := &d.bits
	p1, m1 := int16(1)<<al, int16(-1)<<al
	k := ss
	if d.eobrun == 0 {
		ac := d.ac[c.acTbl]
		for ; k <= se; k++ {
			rs := b.decode(ac)
			r, s := int(rs>>4), int(rs&15)
			var val int16
			if s != 0 {
				// s must be 1 (a corrupt larger one is read as 1, as libjpeg does)
				if b.receive(1) != 0 {
					val = p1
				} else {
					val = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += int(b.receive(uint(r)))
				}
				break
			}
			// Skip r zero coefficients (refining the non-zero ones met),
			// then place val at the next zero one.
			for ; k <= se; k++ {
				z := zigzag[k]
				if co[z] != 0 {
					refine(b, &co[z], p1, m1)
				} else {
					if r == 0 {
						break
					}
					r--
				}
			}
			if val != 0 && k <= se {
				co[zigzag[k]] = val
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			z := zigzag[k]
			if co[z] != 0 {
				refine(b, &co[z], p1, m1)
			}
		}
		d.eobrun--
	}
	return nil
}

func refine(b *bitReader, v *int16, p1, m1 int16) {
	if b.receive(1) != 0 && *v&p1 == 0 {
		if *v >= 0 {
			*v += p1
		} else {
			*v += m1
		}
	}
}

// idctPlane turns a progressive component's final coefficients into
// samples, every padded block of the plane as libjpeg does.
func (d *decoder) idctPlane(c *component) {
	if c.qt == nil { // never in a scan: libjpeg leaves it zero (mid-gray after IDCT)
		c.qt = ifastTable(&[64]uint16{})
	}
	bpl := c.stride / 8
	rows := len(c.plane) / c.stride / 8
	var blk [64]int32
	for by := 0; by < rows; by++ {
		for bx := 0; bx < bpl; bx++ {
			co := c.coefs[64*(by*bpl+bx):][:64]
			for i, v := range co {
				blk[i] = int32(v)
			}
			idctIFAST(&blk, c.qt, c.plane[by*8*c.stride+bx*8:], c.stride)
		}
	}
	c.coefs = nil
}
