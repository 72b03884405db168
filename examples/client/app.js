import { greet } from "./greet.js";

greet("ada").then((text) => {
  document.getElementById("greeting").textContent = text;
});
