// Starts Swagger UI on /docs over facetrail's own OpenAPI schema. A file, not an inline
// script: the page's Content-Security-Policy runs scripts of facetrail's origin only.
"use strict";

window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    // Never send the schema to validator.swagger.io, nor show its badge.
    validatorUrl: null,
  });
});
