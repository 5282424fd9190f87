"""Every component id of the dashboard: page-prefixed kebab-case constants."""
from __future__ import annotations

# app shell (nav links: NAV + "-" + page name in kebab case)
NAV = "app-nav"
NAV_LINKS = "app-nav-links"

# error map ('/')
MAP_URL = "map-url"
MAP_NAV = "map-nav"
MAP_DATASET = "map-dataset"
MAP_MODEL = "map-model"
MAP_METRIC = "map-metric"
MAP_TEMPERATURE = "map-temperature"
MAP_NORMALISE = "map-normalise"
MAP_COLOR_SCALE = "map-color-scale"
MAP_VIEW = "map-view"
MAP_CMAX = "map-cmax"
MAP_COMPARE = "map-compare"
MAP_COPY_LINK = "map-copy-link"
MAP_REPORT_BUTTON = "map-report-button"
MAP_REPORT_DOWNLOAD = "map-report-download"
MAP_GRAPH = "map-graph"
MAP_MESSAGE = "map-message"
MAP_TABLE = "map-table"
MAP_CSV_BUTTON = "map-csv-button"
MAP_CSV_DOWNLOAD = "map-csv-download"

# distributions ('/distributions')
DIST_URL = "dist-url"
DIST_DATASET = "dist-dataset"
DIST_METRIC = "dist-metric"
DIST_TEMPERATURE = "dist-temperature"
DIST_MODE = "dist-mode"
DIST_HSCALE = "dist-hscale"
DIST_NORMALISE = "dist-normalise"
DIST_CAVEATS = "dist-caveats"
DIST_X_MODEL = "dist-x-model"
DIST_Y_MODEL = "dist-y-model"
DIST_HISTOGRAM = "dist-histogram"
DIST_SCATTER = "dist-scatter"
DIST_STATS = "dist-stats"
DIST_STATS_TABLE = "dist-stats-table"
DIST_MESSAGE = "dist-message"
DIST_CSV_BUTTON = "dist-csv-button"
DIST_CSV_DOWNLOAD = "dist-csv-download"
DIST_DESCRIPTOR = "dist-descriptor"
DIST_DESCRIPTOR_SCATTER = "dist-descriptor-scatter"
DIST_CORRELATIONS = "dist-correlations"
DIST_CORRELATIONS_TABLE = "dist-correlations-table"
DIST_DESCRIPTORS_TABLE = "dist-descriptors-table"
DIST_DESC_CSV_BUTTON = "dist-desc-csv-button"
DIST_DESC_CSV_DOWNLOAD = "dist-desc-csv-download"

# element ('/element/<symbol>')
ELEMENT_URL = "element-url"
ELEMENT_TITLE = "element-title"
ELEMENT_ROW = "element-row"
ELEMENT_EOS = "element-eos"
ELEMENT_EOS_CURVE = "element-eos-curve"
ELEMENT_TABLE = "element-table"
ELEMENT_FRAME_TABLE = "element-frame-table"
ELEMENT_ENERGY_PARITY = "element-energy-parity"
ELEMENT_FORCE_PARITY = "element-force-parity"
ELEMENT_CURVES_MESSAGE = "element-curves-message"
ELEMENT_METHODS = "element-methods"
ELEMENT_CURVES_STORE = "element-curves-store"
ELEMENT_DISPLACEMENT_CURVE = "element-displacement-curve"
ELEMENT_FERMI_CURVE = "element-fermi-curve"
ELEMENT_PREV = "element-prev"
ELEMENT_NEXT = "element-next"
ELEMENT_CSV_BUTTON = "element-csv-button"
ELEMENT_CSV_DOWNLOAD = "element-csv-download"

# jobs ('/jobs')
ELEMENT_FIT_TABLE = "element-fit-table"
ELEMENT_LEARNING_CURVE = "element-learning-curve"
MAP_FITTED_HINT = "map-fitted-hint"
DIST_FITTED = "dist-fitted"
DIST_FITTED_TABLE = "dist-fitted-table"
DIST_FITTED_SCATTER = "dist-fitted-scatter"
JOBS_FIT_FAMILY = "jobs-fit-family"
JOBS_FIT_ELEMENTS = "jobs-fit-elements"
JOBS_FIT_SUBMIT = "jobs-fit-submit"
JOBS_FIT_MESSAGE = "jobs-fit-message"
JOBS_FIT_ALERT = "jobs-fit-message-alert"
JOBS_MODEL = "jobs-model"
JOBS_DATASET = "jobs-dataset"
JOBS_DEVICE = "jobs-device"
JOBS_DTYPE = "jobs-dtype"
JOBS_SUBMIT = "jobs-submit"
JOBS_SUBMIT_MESSAGE = "jobs-submit-message"
JOBS_SUBMIT_ALERT = "jobs-submit-message-alert"
JOBS_TABLE = "jobs-table"
JOBS_INTERVAL = "jobs-interval"
JOBS_CANCEL = "jobs-cancel"  # pattern-matching: {"type": JOBS_CANCEL, "index": job_id}
JOBS_COVERAGE = "jobs-coverage"
JOBS_STATE_PREFIX = "jobs-table-state"  # + "-<first 12 hex digits of the job id>"

# data ('/data')
DATA_REF_UPLOAD = "data-ref-upload"
DATA_REF_ELEMENT = "data-ref-element"
DATA_REF_TEMPERATURE = "data-ref-temperature"
DATA_REF_NAME = "data-ref-name"
DATA_REF_FORMAT = "data-ref-format"
DATA_REF_MODE = "data-ref-mode"  # refuse / append / replace when the data set exists
DATA_REF_TYPE_MAP = "data-ref-type-map"
DATA_REF_ENERGY_KEY = "data-ref-energy-key"  # extended XYZ: the reference energy key (REF_energy, ...)
DATA_REF_FORCES_KEY = "data-ref-forces-key"
DATA_REF_MESSAGE = "data-ref-message"
DATA_REF_ALERT = "data-ref-message-alert"
DATA_PRED_UPLOAD = "data-pred-upload"
DATA_PRED_DATASET = "data-pred-dataset"
DATA_PRED_MODEL = "data-pred-model"
DATA_PRED_FORMAT = "data-pred-format"
DATA_PRED_UNIVERSAL = "data-pred-universal"
DATA_PRED_PREFIX = "data-pred-prefix"  # extended XYZ predictions: the key prefix (MACE_ for MACE_energy)
DATA_PRED_MESSAGE = "data-pred-message"
DATA_PRED_ALERT = "data-pred-message-alert"
DATA_LIST = "data-list"
DATA_UPLOAD_LIMIT = "data-upload-limit"  # dcc.Store: the upload limit in bytes, for the browser's size check
DATA_REF_ACCEPTED = "data-ref-accepted"  # dcc.Store: set by the browser when an upload is within the limit
DATA_PRED_ACCEPTED = "data-pred-accepted"
DATA_REF_TOO_BIG = "data-ref-too-big"  # the browser's message for a file over the limit
DATA_PRED_TOO_BIG = "data-pred-too-big"
DATA_LIST_TABLE = "data-list-table"

# export controls of a page: components.export.export_id(prefix, part) -> "<prefix>-export-<part>"
# with prefix 'map', 'dist' or 'element' and part 'figure', 'format', 'size', 'font', 'button', 'download'

# curves ('/curves'): small multiples of the eigenvalue-sum curves (SI Figs S3-S18)
CURVES_URL = "curves-url"
CURVES_ELEMENTS = "curves-elements"
CURVES_GROUP = "curves-group"  # which six-element figure of the SI layout, or 'all'
CURVES_KINDS = "curves-kinds"
CURVES_METHODS = "curves-methods"
CURVES_GRAPH = "curves-graph"
ELEMENT_BORROWED = "element-borrowed"  # the note that the EOS and curves come from the embedded default set
DIST_LABELS = "dist-labels"  # element symbols beside the scatter points: on / off
FINDINGS_URL = "findings-url"
FINDINGS_DATASET = "findings-dataset"
FINDINGS_METRIC = "findings-metric"
FINDINGS_TEMPERATURE = "findings-temperature"
FINDINGS_VALUES = "findings-values"
FINDINGS_BODY = "findings-body"
FINDINGS_GROUPS = "findings-groups"
FINDINGS_AGREEMENT = "findings-agreement"
FINDINGS_ELECTRONIC = "findings-electronic"
ELEMENT_TEMPERATURE = "element-temperature"  # errors against sampling temperature, a line per model
FINDINGS_TEMPERATURE_GRID = "findings-temperature-grid"
MAP_CAVEATS = "map-caveats"  # one strip for every caveat of the map
FINDINGS_SMEARING = "findings-smearing"  # the smearing experiment: relative error against the width
