/** Tailwind scans every template for the classes our pages use. */
module.exports = {
  content: [
    "./core/ui/templates/**/*.html",
    "./compat_sentry/templates/**/*.html",
    "./compat_loki/templates/**/*.html",
    "./compat_prom/templates/**/*.html",
    "./core/ui/static/*.js",
  ],
  theme: { extend: {} },
  plugins: [],
};
