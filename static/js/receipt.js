// The receipt's Print button: shown only when this script runs (without it, the
// browser's own Print prints the same receipt; the page's print styles hide the rest).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});
