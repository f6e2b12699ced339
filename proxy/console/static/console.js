// Enhancement only: every page and form works without this script.
// After a refused form, put the keyboard focus on the first field that needs fixing.
document.addEventListener("DOMContentLoaded", function () {
  var invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) {
    invalid.focus();
  }
});
