// The report package's public surface.
export { REPORT_SCHEMA } from './types.js';
export type * from './types.js';
export { parseReportData, ReportDataSchema } from './schema.js';
export { renderReport, PLOT_DIR, type RenderedReport } from './render.js';
export { readReportData, writeReport, type WrittenReport } from './io.js';
export { plotSpecs, renderPlots, renderSvg, armColors, type PlotDef } from './plots.js';
export { exampleReportData } from './fixture.js';
