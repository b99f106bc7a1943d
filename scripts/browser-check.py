#!/usr/bin/env python3
"""Drives the page of `orthocxr serve` in headless Chromium through Selenium, as a person would use it:
open the page, choose an X-ray, wait for the answer, check the class, the probabilities and the heatmap
overlay appear, and save a screenshot. Prints one JSON line; exits 1 when something is missing.

Needs Debian's chromium and chromium-driver and PyPI's selenium. The ServingTests suite runs it
against a live server when they are installed (skipped with a message otherwise).

    python3 scripts/browser-check.py --url http://127.0.0.1:8080/ --image xray.png --screenshot page.png
"""
import argparse
import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--driver", default="/usr/bin/chromedriver")
    args = parser.parse_args()

    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=args.driver), options=options)
    result = {"class": None, "overlay": False, "probabilities": 0, "card": False}
    try:
        driver.get(args.url)
        WebDriverWait(driver, args.timeout).until(lambda d: "Intended use" in d.find_element(By.ID, "card").text)
        result["card"] = True
        driver.find_element(By.ID, "files").send_keys(os.path.abspath(args.image))
        answer = WebDriverWait(driver, args.timeout).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".class[data-class]"))[0]
        result["class"] = answer.get_attribute("data-class")
        result["probabilities"] = len(driver.find_elements(By.CSS_SELECTOR, ".result .row"))
        result["overlay"] = driver.execute_script(
            "const img = document.querySelector('img.overlay'); return !!img && img.complete && img.naturalWidth > 0;")
        driver.save_screenshot(args.screenshot)
    finally:
        driver.quit()
    print(json.dumps(result))
    return 0 if result["class"] and result["overlay"] and result["probabilities"] > 1 and result["card"] else 1


if __name__ == "__main__":
    sys.exit(main())
