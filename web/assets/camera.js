// Door camera page: frames from the webcam or a photo file to POST /local/doors/{doorId}/frames.

import { loadConfig } from "./api.js";
import { clock, element } from "./local.js";

const FRAMES_PER_RING = 3;
const RING_INTERVAL_MS = 400;
const STREAM_INTERVAL_MS = 1000;
const MAX_WIDTH = 1280;
const JPEG_QUALITY = 0.9;
const MAX_LOG = 30;

const video = document.getElementById("video");
const canvas = document.getElementById("frame");
const context = canvas.getContext("2d");
const ringButton = document.getElementById("ring");
const streamButton = document.getElementById("stream");
const photoInput = document.getElementById("photo");
const fileField = document.getElementById("file-field");
const cameraError = document.getElementById("camera-error");
const log = document.getElementById("frame-log");

let doorId = "front-door";
let source = "file";
let photo = null; // ImageBitmap of the chosen file
let webcam = null; // MediaStream
let streamTimer = null;
let sending = false;
let sent = 0;

function ready() {
  return source === "webcam" ? webcam !== null : photo !== null;
}

function updateButtons() {
  ringButton.disabled = !ready() || sending;
  streamButton.disabled = !ready();
}

function showCameraError(message) {
  cameraError.textContent = message;
  cameraError.hidden = !message;
}

/** Draw the current picture (webcam frame or photo) on the canvas, at most MAX_WIDTH wide. */
function capture() {
  const width = source === "webcam" ? video.videoWidth : photo.width;
  const height = source === "webcam" ? video.videoHeight : photo.height;
  if (!width || !height) {
    return false;
  }
  const scale = Math.min(1, MAX_WIDTH / width);
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  context.drawImage(source === "webcam" ? video : photo, 0, 0, canvas.width, canvas.height);
  return true;
}

function drawFaces(faces) {
  context.lineWidth = Math.max(2, canvas.width / 200);
  for (const face of faces) {
    const box = face.boundingBox;
    context.strokeStyle = face.matches.length ? "#146c2e" : "#b3261e";
    context.strokeRect(
      box.Left * canvas.width,
      box.Top * canvas.height,
      box.Width * canvas.width,
      box.Height * canvas.height,
    );
  }
}

function describe(answer) {
  if (!answer.faces.length) {
    return "no face";
  }
  const face = answer.faces[0];
  let text = `a face (${face.confidence.toFixed(1)}% sure)`;
  if (face.matches.length) {
    const best = face.matches[0];
    text += `, known: ${best.visitorId} at ${best.similarity.toFixed(1)}%`;
  } else {
    text += ", not in the collection";
  }
  return text;
}

function addLog(text, kind) {
  const item = element("li", `frame-entry frame-${kind}`, text);
  log.prepend(item);
  while (log.children.length > MAX_LOG) {
    log.lastElementChild.remove();
  }
}

async function sendFrame() {
  if (!capture()) {
    addLog("The camera has no picture yet.", "error");
    return;
  }
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
  let response;
  try {
    response = await fetch(`/local/doors/${encodeURIComponent(doorId)}/frames`, {
      method: "POST",
      headers: { "Content-Type": "image/jpeg" },
      body: blob,
      cache: "no-store",
    });
  } catch (error) {
    addLog(`Could not send the frame: ${error.message}`, "error");
    return;
  }
  const answer = await response.json().catch(() => ({}));
  sent += 1;
  if (response.status !== 202) {
    addLog(`Frame ${sent} refused (${response.status}): ${answer.error || "unknown error"}`, "error");
    return;
  }
  drawFaces(answer.faces);
  addLog(`${clock(new Date().toISOString())} frame ${sent}: ${describe(answer)}`, answer.faces.length ? "face" : "none");
}

async function ring() {
  sending = true;
  updateButtons();
  try {
    for (let index = 0; index < FRAMES_PER_RING; index += 1) {
      await sendFrame();
      if (index + 1 < FRAMES_PER_RING) {
        await new Promise((resolve) => setTimeout(resolve, RING_INTERVAL_MS));
      }
    }
  } finally {
    sending = false;
    updateButtons();
  }
}

function setStreaming(on) {
  if (streamTimer !== null) {
    clearInterval(streamTimer);
    streamTimer = null;
  }
  if (on) {
    streamTimer = setInterval(() => {
      if (!sending) {
        sendFrame();
      }
    }, STREAM_INTERVAL_MS);
  }
  streamButton.setAttribute("aria-pressed", String(on));
  streamButton.textContent = on ? "Stop streaming" : "Stream (1 frame/s)";
}

async function startWebcam() {
  showCameraError("");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showCameraError("This browser cannot use a camera here. Choose a photo file instead.");
    return;
  }
  try {
    webcam = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (error) {
    webcam = null;
    showCameraError(`No camera: ${error.message}. Allow the camera, or choose a photo file instead.`);
    updateButtons();
    return;
  }
  video.srcObject = webcam;
  video.hidden = false;
  await video.play().catch(() => {});
  updateButtons();
}

function stopWebcam() {
  if (webcam) {
    for (const track of webcam.getTracks()) {
      track.stop();
    }
  }
  webcam = null;
  video.srcObject = null;
  video.hidden = true;
}

async function chooseSource(value) {
  source = value;
  setStreaming(false);
  fileField.hidden = value !== "file";
  if (value === "webcam") {
    await startWebcam();
  } else {
    stopWebcam();
    showCameraError("");
  }
  updateButtons();
}

photoInput.addEventListener("change", async () => {
  const file = photoInput.files[0];
  photo = null;
  if (file) {
    try {
      photo = await createImageBitmap(file);
      capture();
    } catch {
      showCameraError("That file is not a picture this browser can read.");
    }
  }
  updateButtons();
});

for (const radio of document.querySelectorAll('input[name="source"]')) {
  radio.addEventListener("change", () => chooseSource(radio.value));
}
ringButton.addEventListener("click", ring);
streamButton.addEventListener("click", () => setStreaming(streamTimer === null));

loadConfig()
  .then((config) => {
    doorId = config.doorId || doorId;
  })
  .catch(() => {})
  .finally(() => {
    document.getElementById("door-id").textContent = doorId;
    document.getElementById("door-link").href = `../door/?door=${encodeURIComponent(doorId)}`;
    updateButtons();
  });
