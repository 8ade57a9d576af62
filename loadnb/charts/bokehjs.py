"""BokehJS in a notebook page, once per kernel, inline (no CDN: works offline), compressed.

Every Bokeh output of loadnb (the widget's dashboard, the capacity and sweep charts, comparisons)
needs BokehJS in the page first. :func:`ensure_bokehjs` sends it once per kernel as one small
output instead of Bokeh's ``output_notebook(INLINE)`` (two uncompressed copies, about 4 MB per
notebook). Bokeh and IPython are imported only when it is called.
"""

from __future__ import annotations

#: Inflates ``b64`` (raw DEFLATE, base64) into ``size`` bytes of UTF-8 JavaScript and runs it in
#: the page's global scope, synchronously (BokehJS is there before the next output renders; the
#: browsers' own ``DecompressionStream`` is asynchronous). Called as ``(INFLATE_JS)(b64, size)``.
INFLATE_JS = r"""(function(b64, size) {
  var src = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0) });
  var out = new Uint8Array(size), n = 0, pos = 0, bit = 0;
  function bits(k) {
    var v = 0;
    for (var i = 0; i < k; i++) {
      v |= ((src[pos] >> bit) & 1) << i;
      if (++bit === 8) { bit = 0; pos++ }
    }
    return v;
  }
  function tree(lengths, num) {
    var counts = new Uint16Array(16), offs = new Uint16Array(16), syms = new Uint16Array(num), i;
    for (i = 0; i < num; i++) counts[lengths[i]]++;
    counts[0] = 0;
    for (i = 1; i < 16; i++) offs[i] = offs[i - 1] + counts[i - 1];
    for (i = 0; i < num; i++) if (lengths[i]) syms[offs[lengths[i]]++] = i;
    return {counts: counts, syms: syms};
  }
  function decode(t) {
    var cur = 0, sum = 0, len = 0;
    do {
      cur = 2 * cur + bits(1); len++; sum += t.counts[len]; cur -= t.counts[len];
    } while (cur >= 0);
    return t.syms[sum + cur];
  }
  var LB = [3,4,5,6,7,8,9,10,11,13,15,17,19,23,27,31,35,43,51,59,67,83,99,115,131,163,195,227,258];
  var LX = [0,0,0,0,0,0,0,0,1,1,1,1,2,2,2,2,3,3,3,3,4,4,4,4,5,5,5,5,0];
  var DB = [1,2,3,4,5,7,9,13,17,25,33,49,65,97,129,193,257,385,513,769,1025,1537,2049,3073,4097,
            6145,8193,12289,16385,24577];
  var DX = [0,0,0,0,1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,9,9,10,10,11,11,12,12,13,13];
  var ORDER = [16,17,18,0,8,7,9,6,10,5,11,4,12,3,13,2,14,1,15];
  var fixed = new Uint8Array(320), i;
  for (i = 0; i < 288; i++) fixed[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
  for (i = 288; i < 320; i++) fixed[i] = 5;
  var fixedLit = tree(fixed, 288), fixedDist = tree(fixed.subarray(288), 32);
  var last, type;
  do {
    last = bits(1); type = bits(2);
    if (type === 0) {
      if (bit) { bit = 0; pos++ }
      var len = src[pos] | (src[pos + 1] << 8);
      pos += 4;
      out.set(src.subarray(pos, pos + len), n); n += len; pos += len;
      continue;
    }
    var lit = fixedLit, dist = fixedDist;
    if (type === 2) {
      var hlit = bits(5) + 257, hdist = bits(5) + 1, hclen = bits(4) + 4;
      var cl = new Uint8Array(19);
      for (i = 0; i < hclen; i++) cl[ORDER[i]] = bits(3);
      var clt = tree(cl, 19), lens = new Uint8Array(hlit + hdist);
      for (i = 0; i < hlit + hdist;) {
        var s = decode(clt), rep = 0, val = 0;
        if (s < 16) { lens[i++] = s; continue }
        if (s === 16) { val = lens[i - 1]; rep = 3 + bits(2) }
        else if (s === 17) rep = 3 + bits(3);
        else rep = 11 + bits(7);
        while (rep--) lens[i++] = val;
      }
      lit = tree(lens, hlit); dist = tree(lens.subarray(hlit), hdist);
    }
    for (;;) {
      var sym = decode(lit);
      if (sym < 256) { out[n++] = sym; continue }
      if (sym === 256) break;
      sym -= 257;
      var length = LB[sym] + bits(LX[sym]), d = decode(dist), from = n - (DB[d] + bits(DX[d]));
      while (length--) out[n++] = out[from++];
    }
  } while (!last);
  (0, eval)(new TextDecoder().decode(out));
})"""


def bokehjs_loader() -> str:
    """JavaScript that loads BokehJS inline (no CDN: works offline), deflated and base64-encoded.

    It is Bokeh's own notebook loader (what ``output_notebook(INLINE, hide_banner=True)`` sends)
    compressed to about a third, and sent as one MIME type (``application/javascript``, which
    JupyterLab, Voila and the classic notebook all run) instead of Bokeh's two copies.
    """
    import base64
    import zlib

    from bokeh.core.templates import AUTOLOAD_NB_JS
    from bokeh.embed.bundle import bundle_for_objs_and_resources
    from bokeh.resources import Resources

    resources = Resources(mode="inline", components=["bokeh", "bokeh-widgets", "bokeh-tables"])
    bundle = bundle_for_objs_and_resources(None, resources)
    js = AUTOLOAD_NB_JS.render(bundle=bundle, elementid=None, force=True, timeout=5000,
                               register_mime=True).encode()
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE: no zlib header
    packed = base64.b64encode(deflate.compress(js) + deflate.flush()).decode("ascii")
    return f'({INFLATE_JS})("{packed}", {len(js)});\n'


def ensure_bokehjs() -> None:
    """Load BokehJS into the page once per kernel (the first call displays :func:`bokehjs_loader`
    as an output of its own; later calls, and calls after Bokeh's ``output_notebook``, do
    nothing). Bokeh's ``show`` works afterwards without another ``output_notebook``."""
    from bokeh.io.state import curstate
    from IPython.display import publish_display_data

    state = curstate()
    if not state.notebook:
        publish_display_data({"application/javascript": bokehjs_loader()})  # type: ignore[no-untyped-call]
        state.output_notebook("jupyter")


__all__ = ["INFLATE_JS", "bokehjs_loader", "ensure_bokehjs"]
