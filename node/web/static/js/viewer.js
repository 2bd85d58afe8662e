// The design page's interactive 3D view: three.js (vendored by `make vendor`),
// loaded only when a page shows a model.

import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

const TO_MM = { mm: 1, inch: 25.4, m: 1000 };

async function parse(buffer, extension) {
  switch (extension) {
    case "stl": {
      const { STLLoader } = await import("three/addons/loaders/STLLoader.js");
      return new THREE.Mesh(new STLLoader().parse(buffer));
    }
    case "ply": {
      const { PLYLoader } = await import("three/addons/loaders/PLYLoader.js");
      const geometry = new PLYLoader().parse(buffer);
      geometry.computeVertexNormals();
      return new THREE.Mesh(geometry);
    }
    case "obj": {
      const { OBJLoader } = await import("three/addons/loaders/OBJLoader.js");
      return new OBJLoader().parse(new TextDecoder().decode(buffer));
    }
    case "3mf": {
      const { ThreeMFLoader } = await import("three/addons/loaders/3MFLoader.js");
      return new ThreeMFLoader().parse(buffer);
    }
    case "glb": {
      const { GLTFLoader } = await import("three/addons/loaders/GLTFLoader.js");
      return (await new GLTFLoader().parseAsync(buffer, "")).scene;
    }
    default:
      throw new Error(`no viewer for .${extension} files`);
  }
}

function webglAvailable() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}

/**
 * Show a model (ArrayBuffer) in container. Returns {size: [x, y, z] in mm, triangles}.
 * Throws when the browser has no WebGL or the file cannot be read.
 */
export async function showModel(container, buffer, extension, units, label) {
  if (!webglAvailable()) throw new Error("this browser has no WebGL for the 3D view");
  const object = await parse(buffer, extension);
  const material = new THREE.MeshStandardMaterial({ color: 0x4f7cac, metalness: 0.1, roughness: 0.6, side: THREE.DoubleSide });
  let triangles = 0;
  object.traverse((child) => {
    if (child.isMesh) {
      child.material = material;
      const geometry = child.geometry;
      triangles += (geometry.index ? geometry.index.count : geometry.attributes.position.count) / 3;
    }
  });
  object.scale.multiplyScalar(TO_MM[units] || 1);
  // STL, PLY and 3MF are Z-up; three.js is Y-up: stand the part on the grid.
  if (["stl", "ply", "3mf"].includes(extension)) object.rotation.x = -Math.PI / 2;
  object.updateMatrixWorld(true);
  const box = new THREE.Box3().setFromObject(object);
  const size = box.getSize(new THREE.Vector3());
  const center = box.getCenter(new THREE.Vector3());
  object.position.sub(center);

  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0xe8ecef);
  scene.add(object);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x445566, 2.2));
  const sun = new THREE.DirectionalLight(0xffffff, 1.6);
  sun.position.set(1, 2, 3);
  scene.add(sun);
  const radius = Math.max(size.x, size.y, size.z, 1e-6);
  const grid = new THREE.GridHelper(radius * 2, 10, 0x888888, 0xbbbbbb);
  grid.position.y = -size.y / 2;
  scene.add(grid);

  const width = container.clientWidth || 480;
  const height = container.clientHeight || 360;
  const camera = new THREE.PerspectiveCamera(40, width / height, radius / 100, radius * 100);
  camera.position.set(radius * 1.3, radius * 1.0, radius * 1.6);
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio);
  renderer.setSize(width, height);
  const canvas = renderer.domElement;
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  container.replaceChildren(canvas);

  const controls = new OrbitControls(camera, canvas);
  controls.listenToKeyEvents(canvas);
  const render = () => renderer.render(scene, camera);
  controls.addEventListener("change", render);
  new ResizeObserver(() => {
    const w = container.clientWidth;
    const h = container.clientHeight;
    if (!w || !h) return;
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    renderer.setSize(w, h);
    render();
  }).observe(container);
  render();
  return { size: [size.x, size.y, size.z], triangles };
}
