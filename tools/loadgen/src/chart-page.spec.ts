import { chartPage, stepPath, xScale, yScale, type ChartFrame } from './chart-page';

const frame: ChartFrame = { width: 100, height: 60, pad: { l: 0, r: 0, t: 10, b: 0 }, tMax: 10, tickLabel: (t) => `${t} s` };

describe('chart page', () => {
  it('draws a count as steps: each value held until the next sample', () => {
    const path = stepPath([{ t: 0, v: 0 }, { t: 5, v: 2 }, { t: 10, v: 1 }], xScale(frame), yScale(frame, 2));
    expect(path).toBe('M0.0,60.0 L50.0,60.0 L50.0,10.0 L100.0,10.0 L100.0,35.0');
  });

  it('escapes what it is given as text, and shows each section as JSON under its heading', () => {
    const html = chartPage({
      title: 'a <b> & "c"',
      legend: [{ colour: '#123456', label: 'x < y' }],
      frame,
      svg: ['<path d="M0,0"/>'],
      ariaLabel: 'lines',
      sections: [{ heading: 'Figures', data: { tag: '<i>' } }, { data: [1] }],
    });
    expect(html).toContain('<title>a &lt;b&gt; &amp; &quot;c&quot;</title>');
    expect(html).toContain('</i>x &lt; y</span>');
    expect(html).toContain('<path d="M0,0"/>');
    expect(html).toContain('<h2>Figures</h2>\n<pre>{\n  &quot;tag&quot;: &quot;&lt;i&gt;&quot;\n}</pre>');
    expect(html).toContain('<pre>[\n  1\n]</pre>');
    expect(html.match(/>\d+ s<\/text>/g)).toEqual(['>0 s</text>', '>2 s</text>', '>4 s</text>', '>6 s</text>', '>8 s</text>', '>10 s</text>']);
  });
});
