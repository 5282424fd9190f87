// Arrow keys step through elements on an element page (presentation mode and everywhere else),
// unless the focus is in a text field.
document.addEventListener("keydown", function (event) {
    const tag = (event.target && event.target.tagName) || "";
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || event.altKey || event.ctrlKey || event.metaKey) {
        return;
    }
    const target = event.key === "ArrowLeft" ? "element-prev" : event.key === "ArrowRight" ? "element-next" : null;
    const link = target && document.getElementById(target);
    if (link && link.tagName === "A") {
        event.preventDefault();
        link.click();
    }
});
