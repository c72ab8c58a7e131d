// The promotion page: a file that has not landed shows what it would change on its
// branch now, read from the repository when the lead opens it, and only the first time.
document.querySelectorAll("details.pg-file-diff[data-diff-url]").forEach(function (details) {
  details.addEventListener("toggle", function () {
    if (!details.open || details.dataset.loaded) {
      return;
    }
    details.dataset.loaded = "yes";
    var slot = details.querySelector(".pg-diff-slot");
    fetch(details.dataset.diffUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status + " " + response.statusText);
        }
        return response.text();
      })
      .then(function (html) {
        slot.innerHTML = html; // escaped by the server: a pod's text never becomes markup
      })
      .catch(function (error) {
        slot.textContent = "Could not read the diff (" + error.message + "): close and open the file to try again.";
        delete details.dataset.loaded;
      });
  });
});
