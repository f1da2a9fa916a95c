// The Watch page's player. The film plays without this script (the <video> element's
// own controls, and #t= in its address to start where the owner left off). The script
// adds what a plain element cannot do:
// - it saves where the owner is (PUT /api/progress/<film>/) every 10 s while the film
//   plays, when it pauses or is sought, and when the page is hidden or left;
// - the video's signed address lives a few minutes: when a later request for more of
//   the film is refused, it asks for a new address and goes on from the same second.
(function () {
  "use strict";

  var video = document.querySelector("video[data-watch]");
  if (!video || !window.fetch) {
    return;
  }
  var SAVE_EVERY_MS = 10000;
  var RENEW_AT_MOST_EVERY_MS = 30000;
  var data = video.dataset;
  var resumeAt = parseFloat(data.start) || 0;
  var lastSaved = resumeAt; // what the server holds already
  var started = false; // nothing is saved before the film has played: 0:00 is no news
  var wantsToPlay = false;
  var reloading = false; // a new address is loading: the element reads 0:00 meanwhile
  var renewedAt = 0;
  var timer = null;

  function save() {
    var position = video.currentTime;
    if (!started || reloading || !isFinite(position) || Math.abs(position - lastSaved) < 0.5) {
      return;
    }
    lastSaved = position;
    fetch(data.progressUrl, {
      method: "PUT",
      credentials: "same-origin",
      keepalive: true, // outlives the page when it is being left
      headers: { "Content-Type": "application/json", "X-CSRFToken": data.csrfToken },
      body: JSON.stringify({ position_seconds: Math.round(position * 10) / 10 }),
    }).then(
      function (response) {
        if (!response.ok) {
          lastSaved = -1; // say it again next time
        }
      },
      function () {
        lastSaved = -1;
      }
    );
  }

  function stopTimer() {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
  }

  // A browser that ignores the #t= fragment starts at 0:00: move to where the owner was.
  video.addEventListener("loadedmetadata", function () {
    if (resumeAt > 0 && Math.abs(video.currentTime - resumeAt) > 1 && resumeAt < video.duration) {
      video.currentTime = resumeAt;
    }
    resumeAt = 0;
    reloading = false;
    if (wantsToPlay && video.paused) {
      video.play().catch(function () {});
    }
  });

  video.addEventListener("play", function () {
    wantsToPlay = true;
  });
  video.addEventListener("playing", function () {
    started = true;
    if (timer === null) {
      timer = window.setInterval(save, SAVE_EVERY_MS);
    }
  });
  video.addEventListener("pause", function () {
    stopTimer();
    // Chrome pauses a film whose next bytes were refused (error first, then pause):
    // that pause, and the one a new address makes, are not the viewer's.
    if (reloading || video.error) {
      return;
    }
    wantsToPlay = false;
    save();
  });
  video.addEventListener("ended", function () {
    stopTimer();
    save();
  });
  video.addEventListener("seeked", function () {
    if (video.paused) {
      save();
    }
  });
  window.addEventListener("pagehide", save);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      save();
    }
  });

  // The address ran out (a 403), or the network failed: a new address, the same second.
  video.addEventListener("error", function () {
    if (Date.now() - renewedAt < RENEW_AT_MOST_EVERY_MS) {
      return;
    }
    renewedAt = Date.now();
    var at = video.currentTime || resumeAt || parseFloat(data.start) || 0;
    fetch(data.sourceUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (fresh) {
        if (!fresh || !fresh.src) {
          return;
        }
        stopTimer();
        reloading = true;
        resumeAt = at;
        video.src = fresh.src + (at > 0 ? "#t=" + at.toFixed(1) : "");
        video.load();
      })
      .catch(function () {});
  });
})();
