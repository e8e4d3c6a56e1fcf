/* Live progress for corrections: our own script, no libraries.
 *
 * An element with data-progress-url is a fragment the server can render again. While it says
 * data-progress-live="true" (a correction on it is on its way: approved, queued, applying,
 * lifting, expired) we fetch the fragment every 2 seconds and swap its contents in; once the
 * server says "false", we stop. Without this script the page still works: it has a Refresh link.
 */
(function () {
  "use strict";

  var INTERVAL_MS = 2000;
  var MAX_BACKOFF_MS = 30000;

  function isLive(element) {
    return element.getAttribute("data-progress-live") === "true";
  }

  function swap(element, html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.querySelector("[data-progress-url]");
    if (!fresh) {
      return false;  // not our fragment (signed out, perhaps): stop rather than poll a login page
    }
    // Keep the element itself (and its aria-live region); replace what is inside it.
    if (element.innerHTML !== fresh.innerHTML) {
      element.innerHTML = fresh.innerHTML;
    }
    element.setAttribute("data-progress-url", fresh.getAttribute("data-progress-url"));
    element.setAttribute("data-progress-live", fresh.getAttribute("data-progress-live"));
    return true;
  }

  function watch(element) {
    var delay = INTERVAL_MS;

    function schedule() {
      if (isLive(element)) {
        window.setTimeout(tick, delay);
      }
    }

    function tick() {
      if (document.hidden) {  // a background tab waits until it is looked at again
        document.addEventListener("visibilitychange", tick, { once: true });
        return;
      }
      fetch(element.getAttribute("data-progress-url"), {
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch", Accept: "text/html" },
        cache: "no-store"
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          if (swap(element, html)) {
            delay = INTERVAL_MS;
            schedule();
          }
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_BACKOFF_MS);  // the server or network is struggling: back off
          schedule();
        });
    }

    schedule();
  }

  function start() {
    var elements = document.querySelectorAll("[data-progress-url]");
    for (var i = 0; i < elements.length; i += 1) {
      watch(elements[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
